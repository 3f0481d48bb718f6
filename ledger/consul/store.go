package consul

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/go-hclog"

	"github.com/inferensys/tumult/ledger"
)

// DefaultMaxAttempts bounds the check-and-set retries of one write.
const DefaultMaxAttempts = 100

// pruneBudget bounds the entries one finishing write prunes, so a lowered
// MaxHistory or Retention never turns one write into a long stall; Open
// prunes the backlog in batches of openPruneBatch.
const (
	pruneBudget    = 32
	openPruneBatch = 500
	// txnBatch is how many operations one transaction carries (Consul
	// accepts up to 128).
	txnBatch = 64
)

// Errors of this package; test for them with errors.Is.
var (
	// ErrClosed: the Store was closed.
	ErrClosed = errors.New("ledger closed")
	// ErrConflict: a write lost its check-and-set race MaxAttempts times
	// in a row.
	ErrConflict = errors.New("too many concurrent writers")
	// ErrNotLeader: a fenced write was refused because this replica does
	// not hold the leader lock (any more).
	ErrNotLeader = errors.New("not the leader")
)

// Fence tells which session must hold which lock key for a write to go
// through. Election implements it.
type Fence interface {
	// Holder returns the lock key and the session this replica holds it
	// with; ok is false when it holds nothing.
	Holder() (key, session string, ok bool)
}

// Fenced returns a view of the store whose record writes (Begin and
// Update) succeed only while the fence's session holds its lock: each
// write's transaction checks the lock's session, atomically with the
// write. A replica that lost leadership but has not noticed yet — its lead
// context not yet cancelled, a write already in flight — cannot write a
// decision, so a decision is never recorded, and then executed, by two
// leaders. Such writes fail with ErrNotLeader. Control state writes and
// reads are not fenced: any replica may halt or pause. The view shares the
// store's client and Close.
func (s *Store) Fenced(f Fence) *Store {
	v := *s
	v.fence = f
	return &v
}

// fenceOp returns the transaction operation that checks the fence, or nil
// for an unfenced store.
func (s *Store) fenceOp(op string) (*api.TxnOp, error) {
	if s.fence == nil {
		return nil, nil
	}
	key, session, ok := s.fence.Holder()
	if !ok {
		return nil, fmt.Errorf("consul ledger %s: %s: %w", s.prefix, op, ErrNotLeader)
	}
	return &api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVCheckSession, Key: key, Session: session}}, nil
}

// Options configure a Store. Zero values take the defaults.
type Options struct {
	// Client talks to Consul. When nil, one is made from Address and
	// Token; when set, Address and Token are not used.
	Client *api.Client
	// Address of the Consul agent (host:port or a URL); empty means the
	// consul/api default (CONSUL_HTTP_ADDR, else 127.0.0.1:8500).
	Address string
	// Token is the ACL token; empty means the consul/api default
	// (CONSUL_HTTP_TOKEN).
	Token string
	// Prefix is where the ledger lives in the KV store (default
	// config.DefaultConsulPrefix). Replicas sharing a prefix share the
	// ledger.
	Prefix string
	// Retention is how long finished records are kept (default
	// ledger.DefaultRetention).
	Retention time.Duration
	// MaxHistory caps the number of finished records kept (default
	// ledger.DefaultMaxHistory).
	MaxHistory int
	// MaxAttempts bounds the check-and-set retries of one write (default
	// DefaultMaxAttempts).
	MaxAttempts int
	// Now is the clock for stamps and retention (default time.Now).
	Now func() time.Time
	// Logger (default: a null logger).
	Logger hclog.Logger
}

func (o Options) withDefaults() Options {
	o.Prefix = normPrefix(o.Prefix)
	ledger.KeepDefaults(&o.Retention, &o.MaxHistory, &o.Now)
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	return o
}

// Store is a ledger.Ledger in Consul's KV store.
type Store struct {
	client *api.Client
	kv     *api.KV
	prefix string
	opts   Options
	log    hclog.Logger

	// mu serialises this Store's writes (shared with its fenced views):
	// writers in one process do not race each other's check-and-set;
	// other replicas still can, and CAS catches them.
	mu     *sync.Mutex
	closed *atomic.Bool
	// fence, when set, conditions record writes on holding a lock.
	fence Fence
}

var _ ledger.Ledger = (*Store)(nil)

// NewClient makes a consul/api client for an address and token; empty
// values take consul/api's defaults (the CONSUL_HTTP_* environment).
func NewClient(address, token string) (*api.Client, error) {
	cfg := api.DefaultConfig()
	if address != "" {
		cfg.Address = address
	}
	if token != "" {
		cfg.Token = token
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("consul client for %s: %w", cfg.Address, err)
	}
	return c, nil
}

// Open connects to the ledger under opts.Prefix: it reads the schema
// version (writing it on first use), checks that the control state
// decodes, and prunes history beyond the retention limits.
func Open(ctx context.Context, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	client := opts.Client
	if client == nil {
		var err error
		if client, err = NewClient(opts.Address, opts.Token); err != nil {
			return nil, fmt.Errorf("open consul ledger: %w", err)
		}
	}
	s := &Store{
		client: client,
		kv:     client.KV(),
		prefix: opts.Prefix,
		opts:   opts,
		log:    opts.Logger.Named("ledger").With("prefix", opts.Prefix),
		mu:     new(sync.Mutex),
		closed: new(atomic.Bool),
	}
	if err := s.checkSchema(ctx); err != nil {
		return nil, fmt.Errorf("open consul ledger %s: %w", s.prefix, err)
	}
	if _, err := s.Control(ctx); err != nil {
		return nil, fmt.Errorf("open consul ledger: %w", err)
	}
	for {
		n, err := s.pruneHistory(ctx, openPruneBatch)
		if err != nil {
			return nil, fmt.Errorf("open consul ledger %s: prune history: %w", s.prefix, err)
		}
		if n < openPruneBatch {
			break
		}
	}
	if err := s.pruneInjections(ctx, "", openPruneBatch); err != nil {
		return nil, fmt.Errorf("open consul ledger %s: prune injection index: %w", s.prefix, err)
	}
	s.log.Info("opened consul ledger")
	return s, nil
}

// Client returns the Consul client the store uses, for the election and
// health checks of the same agent.
func (s *Store) Client() *api.Client { return s.client }

// Prefix returns the normalised KV prefix, ending in a slash.
func (s *Store) Prefix() string { return s.prefix }

func (s *Store) checkSchema(ctx context.Context) error {
	key := s.prefix + keySchema
	for range s.opts.MaxAttempts {
		p, _, err := s.kv.Get(key, s.query(ctx))
		if err != nil {
			return fmt.Errorf("read %s: %w", key, err)
		}
		if p != nil {
			if string(p.Value) != schemaVersion {
				return fmt.Errorf("schema version %q, this tumult reads %q", p.Value, schemaVersion)
			}
			return nil
		}
		// Index 0: create only, so two replicas opening at once agree.
		ok, _, err := s.kv.CAS(&api.KVPair{Key: key, Value: []byte(schemaVersion)}, s.write(ctx))
		if err != nil {
			return fmt.Errorf("write %s: %w", key, err)
		}
		if ok {
			return nil
		}
	}
	return fmt.Errorf("write %s: %w", key, ErrConflict)
}

// query and write are the options of every request: consistent reads, and
// the caller's context on both.
func (s *Store) query(ctx context.Context) *api.QueryOptions {
	return (&api.QueryOptions{RequireConsistent: true}).WithContext(ctx)
}

func (s *Store) write(ctx context.Context) *api.WriteOptions {
	return (&api.WriteOptions{}).WithContext(ctx)
}

// check returns an error for a closed store or a finished context, saying
// what was being done.
func (s *Store) check(ctx context.Context, op string) error {
	if s.closed.Load() {
		return fmt.Errorf("consul ledger %s: %s: %w", s.prefix, op, ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("consul ledger %s: %s: %w", s.prefix, op, err)
	}
	return nil
}

// backoff waits a short random time before a check-and-set retry, so that
// two replicas that collided do not collide again in lockstep.
func backoff(ctx context.Context, attempt int) error {
	d := time.Duration(1+rand.IntN(5*min(attempt+1, 20))) * time.Millisecond
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Control implements ledger.Ledger.
func (s *Store) Control(ctx context.Context) (ledger.Control, error) {
	const op = "read control state"
	if err := s.check(ctx, op); err != nil {
		return ledger.Control{}, err
	}
	c, _, err := s.readControl(ctx)
	if err != nil {
		return ledger.Control{}, fmt.Errorf("consul ledger %s: %s: %w", s.prefix, op, err)
	}
	return c, nil
}

// readControl returns the control state and the ModifyIndex to check-and-
// set against (0 when the key does not exist yet).
func (s *Store) readControl(ctx context.Context) (ledger.Control, uint64, error) {
	p, _, err := s.kv.Get(s.prefix+keyControl, s.query(ctx))
	if err != nil {
		return ledger.Control{}, 0, err
	}
	c, err := decodeControl(p)
	if err != nil {
		return ledger.Control{}, 0, err
	}
	if p == nil {
		return c, 0, nil
	}
	return c, p.ModifyIndex, nil
}

func decodeControl(p *api.KVPair) (ledger.Control, error) {
	c := ledger.Control{State: ledger.Armed}
	if p == nil {
		return c, nil
	}
	if err := json.Unmarshal(p.Value, &c); err != nil {
		return ledger.Control{}, fmt.Errorf("decode %s: %w", p.Key, err)
	}
	return c, nil
}

// UpdateControl implements ledger.Ledger. fn runs again on the fresh state
// when another replica wrote in between; it must not have side effects.
func (s *Store) UpdateControl(ctx context.Context, fn func(*ledger.Control) error) (ledger.Control, error) {
	const op = "update control state"
	if err := s.check(ctx, op); err != nil {
		return ledger.Control{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := s.prefix + keyControl
	for attempt := range s.opts.MaxAttempts {
		cur, index, err := s.readControl(ctx)
		if err != nil {
			return ledger.Control{}, fmt.Errorf("consul ledger %s: %s: %w", s.prefix, op, err)
		}
		next, err := ledger.ApplyControl(cur, s.opts.Now(), fn)
		if err != nil {
			return ledger.Control{}, err
		}
		data, err := json.Marshal(next)
		if err != nil {
			return ledger.Control{}, fmt.Errorf("consul ledger %s: %s: encode: %w", s.prefix, op, err)
		}
		ok, _, err := s.kv.CAS(&api.KVPair{Key: key, Value: data, ModifyIndex: index}, s.write(ctx))
		if err != nil {
			return ledger.Control{}, fmt.Errorf("consul ledger %s: %s: write: %w", s.prefix, op, err)
		}
		if ok {
			s.log.Debug("control state updated", "state", next.State, "actor", next.Actor, "version", next.Version, "attempts", attempt+1)
			return next, nil
		}
		if err := backoff(ctx, attempt); err != nil {
			return ledger.Control{}, fmt.Errorf("consul ledger %s: %s: %w", s.prefix, op, err)
		}
	}
	return ledger.Control{}, fmt.Errorf("consul ledger %s: %s: %w (%d attempts)", s.prefix, op, ErrConflict, s.opts.MaxAttempts)
}

// Begin implements ledger.Ledger: one transaction checks that the ID is
// new, active or finished, and writes the record with its index entry.
func (s *Store) Begin(ctx context.Context, r ledger.Record) error {
	op := "begin record " + r.ID
	if err := s.check(ctx, op); err != nil {
		return err
	}
	rec, err := ledger.PrepareBegin(r, s.opts.Now())
	if err != nil {
		return fmt.Errorf("consul ledger %s: %s: %w", s.prefix, op, err)
	}
	fence, err := s.fenceOp(op)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ops := api.TxnOps{
		kvOp(api.KVCheckNotExists, s.prefix+dirActive+rec.ID, nil, 0),
		kvOp(api.KVCheckNotExists, s.prefix+dirIDs+rec.ID, nil, 0),
	}
	more, err := s.recordOps(ledger.Record{}, 0, rec)
	if err != nil {
		return fmt.Errorf("consul ledger %s: %s: %w", s.prefix, op, err)
	}
	ops = append(ops, more...)
	if fence != nil {
		ops = append(ops, fence)
	}
	ok, resp, _, err := s.client.Txn().Txn(ops, s.query(ctx))
	if err != nil {
		return fmt.Errorf("consul ledger %s: %s: %w", s.prefix, op, err)
	}
	if !ok {
		switch failed := firstFailed(resp); {
		case failed < 2:
			return fmt.Errorf("consul ledger %s: %s: %w", s.prefix, op, ledger.ErrExists)
		case fence != nil && failed == len(ops)-1:
			return fmt.Errorf("consul ledger %s: %s: %w", s.prefix, op, ErrNotLeader)
		}
		return fmt.Errorf("consul ledger %s: %s: %w", s.prefix, op, txnError(resp))
	}
	if !rec.Active() {
		s.pruneAfterFinish(ctx, rec)
	}
	return nil
}

// Update implements ledger.Ledger. fn runs again on the fresh record when
// another replica wrote in between; it must not have side effects.
func (s *Store) Update(ctx context.Context, id string, fn func(*ledger.Record) error) (ledger.Record, error) {
	op := "update record " + id
	if err := s.check(ctx, op); err != nil {
		return ledger.Record{}, err
	}
	fence, err := s.fenceOp(op)
	if err != nil {
		return ledger.Record{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for attempt := range s.opts.MaxAttempts {
		p, _, err := s.kv.Get(s.prefix+dirActive+id, s.query(ctx))
		if err != nil {
			return ledger.Record{}, fmt.Errorf("consul ledger %s: %s: read: %w", s.prefix, op, err)
		}
		if p == nil {
			return ledger.Record{}, s.missing(ctx, op, id)
		}
		var cur ledger.Record
		if err := json.Unmarshal(p.Value, &cur); err != nil {
			return ledger.Record{}, fmt.Errorf("consul ledger %s: %s: decode: %w", s.prefix, op, err)
		}
		next, err := ledger.ApplyRecord(cur, s.opts.Now(), fn)
		if err != nil {
			return ledger.Record{}, err
		}
		ops, err := s.recordOps(cur, p.ModifyIndex, next)
		if err != nil {
			return ledger.Record{}, fmt.Errorf("consul ledger %s: %s: %w", s.prefix, op, err)
		}
		if fence != nil {
			ops = append(ops, fence)
		}
		ok, resp, _, err := s.client.Txn().Txn(ops, s.query(ctx))
		if err != nil {
			return ledger.Record{}, fmt.Errorf("consul ledger %s: %s: write: %w", s.prefix, op, err)
		}
		if ok {
			if !next.Active() {
				s.pruneAfterFinish(ctx, next)
			}
			return next, nil
		}
		// Op 0 is the check-and-set of the record itself: another replica
		// changed it, so read it again. Any other failure is not a race.
		switch failed := firstFailed(resp); {
		case fence != nil && failed == len(ops)-1:
			return ledger.Record{}, fmt.Errorf("consul ledger %s: %s: %w", s.prefix, op, ErrNotLeader)
		case failed != 0:
			return ledger.Record{}, fmt.Errorf("consul ledger %s: %s: %w", s.prefix, op, txnError(resp))
		}
		s.log.Trace("record changed under us; retrying", "fault_id", id, "attempt", attempt+1)
		if err := backoff(ctx, attempt); err != nil {
			return ledger.Record{}, fmt.Errorf("consul ledger %s: %s: %w", s.prefix, op, err)
		}
	}
	return ledger.Record{}, fmt.Errorf("consul ledger %s: %s: %w (%d attempts)", s.prefix, op, ErrConflict, s.opts.MaxAttempts)
}

// UpdateMany implements ledger.Ledger with one transaction per record:
// each is a check-and-set that may have to be read and tried again when
// another replica wrote in between, which one transaction for many
// would turn into a retry of all for a race on one.
func (s *Store) UpdateMany(ctx context.Context, ups []ledger.RecordUpdate) ([]ledger.Record, []error) {
	return ledger.UpdateEach(ctx, s, ups)
}

// missing tells a finished record from an unknown one.
func (s *Store) missing(ctx context.Context, op, id string) error {
	p, _, err := s.kv.Get(s.prefix+dirIDs+id, s.query(ctx))
	if err != nil {
		return fmt.Errorf("consul ledger %s: %s: read: %w", s.prefix, op, err)
	}
	if p != nil {
		return fmt.Errorf("consul ledger %s: %s: %w", s.prefix, op, ledger.ErrFinished)
	}
	return fmt.Errorf("consul ledger %s: %s: %w", s.prefix, op, ledger.ErrNotFound)
}

// recordOps returns the transaction that takes a record from cur (read at
// index; zero for a new record) to next. Its first operation is always the
// check-and-set of the active key: a CAS while the record stays active, a
// delete-CAS when it finishes (then the history and ID keys are created,
// create-only). The injection index follows Injected and Policy.
func (s *Store) recordOps(cur ledger.Record, index uint64, next ledger.Record) (api.TxnOps, error) {
	data, err := json.Marshal(next)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	activeKey := s.prefix + dirActive + next.ID
	var ops api.TxnOps
	switch {
	case next.Active():
		ops = append(ops, kvOp(api.KVCAS, activeKey, data, index))
	case index != 0:
		ops = append(ops, kvOp(api.KVDeleteCAS, activeKey, nil, index))
	}
	if !next.Active() {
		hkey := dirHistory + timeIDKey(next.Finished, next.ID)
		ops = append(ops,
			kvOp(api.KVCAS, s.prefix+hkey, data, 0),
			kvOp(api.KVCAS, s.prefix+dirIDs+next.ID, []byte(hkey), 0),
		)
	}
	if !cur.Injected.Equal(next.Injected) || cur.Policy != next.Policy {
		if !cur.Injected.IsZero() {
			ops = append(ops, kvOp(api.KVDelete, s.injectionKey(cur), nil, 0))
		}
		if !next.Injected.IsZero() {
			ops = append(ops, kvOp(api.KVSet, s.injectionKey(next), nil, 0))
		}
	}
	return ops, nil
}

func (s *Store) injectionKey(r ledger.Record) string {
	return s.prefix + policyDir(r.Policy) + timeIDKey(r.Injected, r.ID)
}

func kvOp(verb api.KVOp, key string, value []byte, index uint64) *api.TxnOp {
	return &api.TxnOp{KV: &api.KVTxnOp{Verb: verb, Key: key, Value: value, Index: index}}
}

// firstFailed returns the index of the first operation a rolled-back
// transaction reports, or -1.
func firstFailed(resp *api.TxnResponse) int {
	if resp == nil || len(resp.Errors) == 0 {
		return -1
	}
	return resp.Errors[0].OpIndex
}

func txnError(resp *api.TxnResponse) error {
	if resp == nil || len(resp.Errors) == 0 {
		return errors.New("transaction rolled back")
	}
	var msgs []string
	for _, e := range resp.Errors {
		msgs = append(msgs, fmt.Sprintf("op %d: %s", e.OpIndex, e.What))
	}
	return fmt.Errorf("transaction rolled back: %s", strings.Join(msgs, "; "))
}

// pruneAfterFinish prunes a little after a record reached the history. The
// record is already durable: a failure here is logged, not returned, and
// the next finishing write or Open prunes again.
func (s *Store) pruneAfterFinish(ctx context.Context, r ledger.Record) {
	if _, err := s.pruneHistory(ctx, pruneBudget); err != nil {
		s.log.Warn("prune history", "error", err)
	}
	if !r.Injected.IsZero() {
		if err := s.pruneInjections(ctx, r.Policy, pruneBudget); err != nil {
			s.log.Warn("prune injection index", "policy", r.Policy, "error", err)
		}
	}
}

// pruneHistory removes at most budget history records, oldest first, while
// there are more than MaxHistory or they are older than Retention, with
// their ID keys. It lists the history's keys (about 60 bytes each, so some
// 600 KB at the default MaxHistory) once per finished record, which is
// cheap next to a fault. Replicas pruning at once delete the same oldest keys;
// deleting a key that is gone is not an error.
func (s *Store) pruneHistory(ctx context.Context, budget int) (int, error) {
	keys, _, err := s.kv.Keys(s.prefix+dirHistory, "", s.query(ctx))
	if err != nil {
		return 0, fmt.Errorf("list history: %w", err)
	}
	slices.Sort(keys)
	cutoff := s.opts.Now().Add(-s.opts.Retention)
	var ops api.TxnOps
	n := 0
	for i, k := range keys {
		if n >= budget {
			break
		}
		rel := strings.TrimPrefix(k, s.prefix+dirHistory)
		t, id, err := splitTimeIDKey(rel)
		if err != nil {
			s.log.Warn("unreadable history key; leaving it", "key", k, "error", err)
			continue
		}
		if len(keys)-i <= s.opts.MaxHistory && !t.Before(cutoff) {
			break
		}
		ops = append(ops,
			kvOp(api.KVDelete, k, nil, 0),
			kvOp(api.KVDelete, s.prefix+dirIDs+id, nil, 0),
		)
		n++
	}
	if err := s.run(ctx, ops); err != nil {
		return 0, err
	}
	if n > 0 {
		s.log.Debug("pruned history", "records", n)
	}
	return n, nil
}

// pruneInjections removes at most budget injection index entries older
// than ledger.IndexCutoff: of one policy, or of every policy
// when policy is empty.
func (s *Store) pruneInjections(ctx context.Context, policy string, budget int) error {
	dir := s.prefix + dirInjections
	if policy != "" {
		dir = s.prefix + policyDir(policy)
	}
	keys, _, err := s.kv.Keys(dir, "", s.query(ctx))
	if err != nil {
		return fmt.Errorf("list %s: %w", dir, err)
	}
	cutoff := ledger.IndexCutoff(s.opts.Now(), s.opts.Retention)
	var ops api.TxnOps
	for _, k := range keys {
		if len(ops) >= budget {
			break
		}
		t, _, err := splitTimeIDKey(k[strings.LastIndexByte(k, '/')+1:])
		if err != nil {
			s.log.Warn("unreadable injection index key; leaving it", "key", k, "error", err)
			continue
		}
		if t.Before(cutoff) {
			ops = append(ops, kvOp(api.KVDelete, k, nil, 0))
		}
	}
	if err := s.run(ctx, ops); err != nil {
		return err
	}
	if len(ops) > 0 {
		s.log.Debug("pruned injection index", "entries", len(ops))
	}
	return nil
}

// run applies operations that cannot conflict (plain deletes) in
// transactions of txnBatch.
func (s *Store) run(ctx context.Context, ops api.TxnOps) error {
	for chunk := range slices.Chunk(ops, txnBatch) {
		ok, resp, _, err := s.client.Txn().Txn(chunk, s.query(ctx))
		if err != nil {
			return err
		}
		if !ok {
			return txnError(resp)
		}
	}
	return nil
}

// Active implements ledger.Ledger.
func (s *Store) Active(ctx context.Context) ([]ledger.Record, error) {
	const op = "list active records"
	if err := s.check(ctx, op); err != nil {
		return nil, err
	}
	pairs, _, err := s.kv.List(s.prefix+dirActive, s.query(ctx))
	if err != nil {
		return nil, fmt.Errorf("consul ledger %s: %s: %w", s.prefix, op, err)
	}
	out := make([]ledger.Record, 0, len(pairs))
	for _, p := range pairs {
		var r ledger.Record
		if err := json.Unmarshal(p.Value, &r); err != nil {
			return nil, fmt.Errorf("consul ledger %s: %s: decode %s: %w", s.prefix, op, p.Key, err)
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, nil
	}
	ledger.SortActive(out)
	return out, nil
}

// History implements ledger.Ledger. It lists the history keys (not the
// records), walks them newest first, and reads records in batches until
// Limit records match.
func (s *Store) History(ctx context.Context, q ledger.HistoryQuery) ([]ledger.Record, error) {
	const op = "list history"
	if err := s.check(ctx, op); err != nil {
		return nil, err
	}
	keys, _, err := s.kv.Keys(s.prefix+dirHistory, "", s.query(ctx))
	if err != nil {
		return nil, fmt.Errorf("consul ledger %s: %s: %w", s.prefix, op, err)
	}
	slices.Sort(keys)
	slices.Reverse(keys)
	if !q.Since.IsZero() {
		since := s.prefix + dirHistory + timeKey(q.Since)
		// Keys are newest first: keep those whose time part is >= since.
		n := 0
		for n < len(keys) && keys[n] >= since {
			n++
		}
		keys = keys[:n]
	}
	// Read in batches; without a policy filter every record read is
	// returned, so a small Limit reads only that many.
	batch := txnBatch
	if q.Limit > 0 && q.Policy == "" {
		batch = min(batch, q.Limit)
	}
	// Reversed key order is SortHistory's order: newest Finished first,
	// then ID descending.
	var out []ledger.Record
	for chunk := range slices.Chunk(keys, batch) {
		if q.Limit > 0 && len(out) >= q.Limit {
			break
		}
		recs, err := s.getRecords(ctx, chunk)
		if err != nil {
			return nil, fmt.Errorf("consul ledger %s: %s: %w", s.prefix, op, err)
		}
		for _, r := range recs {
			if q.Limit > 0 && len(out) >= q.Limit {
				break
			}
			if q.Match(r) {
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// getRecords reads the records at keys, in order, in one consistent
// transaction; keys pruned since they were listed are left out.
func (s *Store) getRecords(ctx context.Context, keys []string) ([]ledger.Record, error) {
	ops := make(api.TxnOps, 0, len(keys))
	for _, k := range keys {
		ops = append(ops, kvOp(api.KVGetOrEmpty, k, nil, 0))
	}
	ok, resp, _, err := s.client.Txn().Txn(ops, s.query(ctx))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, txnError(resp)
	}
	out := make([]ledger.Record, 0, len(keys))
	for _, res := range resp.Results {
		if res.KV == nil || res.KV.ModifyIndex == 0 {
			continue // pruned in between
		}
		var r ledger.Record
		if err := json.Unmarshal(res.KV.Value, &r); err != nil {
			return nil, fmt.Errorf("decode %s: %w", res.KV.Key, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// CountSince implements ledger.Ledger from the injection index: it lists
// keys of one policy, never records.
func (s *Store) CountSince(ctx context.Context, policy string, since time.Time) (int, error) {
	op := "count injections of policy " + policy
	if err := s.check(ctx, op); err != nil {
		return 0, err
	}
	dir := s.prefix + policyDir(policy)
	keys, _, err := s.kv.Keys(dir, "", s.query(ctx))
	if err != nil {
		return 0, fmt.Errorf("consul ledger %s: %s: %w", s.prefix, op, err)
	}
	from := dir + timeKey(since)
	n := 0
	for _, k := range keys {
		if k >= from {
			n++
		}
	}
	return n, nil
}

// Close implements ledger.Ledger: later calls return ErrClosed. The
// client is left open; it may be shared. Close is safe to call twice.
func (s *Store) Close() error {
	if s.closed.CompareAndSwap(false, true) {
		s.log.Debug("closed consul ledger")
	}
	return nil
}
