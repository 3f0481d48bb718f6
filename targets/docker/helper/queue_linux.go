//go:build linux

package helper

import (
	"container/heap"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The nfnetlink_queue protocol (linux/netfilter/nfnetlink_queue.h); no
// well-kept Go library for it is on the module proxy, and it is small.
const (
	nfnlSubsysQueue = 3
	msgPacket       = 0
	msgVerdict      = 1
	msgConfig       = 2

	attrPacketHdr  = 1 // NFQA_PACKET_HDR
	attrVerdictHdr = 2 // NFQA_VERDICT_HDR

	cfgCmd      = 1 // NFQA_CFG_CMD
	cfgParams   = 2 // NFQA_CFG_PARAMS
	cfgQueueMax = 3 // NFQA_CFG_QUEUE_MAXLEN
	cfgMask     = 4 // NFQA_CFG_MASK
	cfgFlags    = 5 // NFQA_CFG_FLAGS

	cmdBind      = 1
	copyMeta     = 1 // NFQNL_COPY_META: the packet's id is all the stage needs
	flagFailOpen = 1 // NFQA_CFG_F_FAIL_OPEN: accept, not drop, when the queue is full

	nfAccept = 1
)

// delayStage holds every packet the queue hands it for the fault's delay
// (plus jitter) and then accepts it. It runs until ctx ends; the kernel
// then accepts queued packets undelayed (bypass), so stopping never cuts
// traffic.
type delayStage struct {
	conn   *netlink.Conn
	delay  time.Duration
	jitter time.Duration
	corr   float64 // 0..1
	rng    *rand.Rand
	last   float64 // the previous jitter draw, in [-1, 1]

	mu      sync.Mutex
	pending pendingHeap
	seq     uint64
	wake    chan struct{}
}

func startDelayStage(spec NetSpec) (*delayStage, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, nil)
	if err != nil {
		return nil, fmt.Errorf("open nfnetlink socket: %w", err)
	}
	_ = c.SetReadBuffer(8 << 20)
	s := &delayStage{conn: c, delay: spec.Delay, jitter: spec.Jitter, corr: spec.Correlation / 100,
		rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7475)), wake: make(chan struct{}, 1)}
	u32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	for _, attrs := range [][]netlink.Attribute{
		{{Type: cfgCmd, Data: []byte{cmdBind, 0, 0, 0}}},
		{{Type: cfgParams, Data: append(u32(0xffff), copyMeta)}},
		{{Type: cfgQueueMax, Data: u32(20000)}},
		{{Type: cfgMask, Data: u32(flagFailOpen)}, {Type: cfgFlags, Data: u32(flagFailOpen)}},
	} {
		if err := s.send(msgConfig, netlink.Request|netlink.Acknowledge, attrs); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("configure nfqueue %d: %w", QueueNum, err)
		}
	}
	return s, nil
}

// send writes one nfnetlink message for the queue: nfgenmsg, then attrs.
func (s *delayStage) send(typ uint16, flags netlink.HeaderFlags, attrs []netlink.Attribute) error {
	b, err := netlink.MarshalAttributes(attrs)
	if err != nil {
		return err
	}
	hdr := []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, 0, 0}
	binary.BigEndian.PutUint16(hdr[2:], QueueNum)
	msg := netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(nfnlSubsysQueue<<8 | typ), Flags: flags}, Data: append(hdr, b...)}
	if flags&netlink.Acknowledge != 0 {
		_, err = s.conn.Execute(msg)
		return err
	}
	_, err = s.conn.Send(msg)
	return err
}

// run receives packets and releases them after their delay until ctx ends.
func (s *delayStage) run(ctx context.Context) error {
	released := make(chan struct{})
	defer func() {
		// Accept what is still held before closing: closing the socket
		// would make the kernel drop the packets still in the queue.
		<-released
		_ = s.conn.Close()
	}()
	stop := context.AfterFunc(ctx, func() { _ = s.conn.SetReadDeadline(time.Now()) })
	defer stop()
	go func() {
		defer close(released)
		s.release(ctx)
	}()
	for {
		msgs, err := s.conn.Receive()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if errors.Is(err, unix.ENOBUFS) {
				continue // the socket overflowed; fail-open let those packets through
			}
			return fmt.Errorf("receive from nfqueue: %w", err)
		}
		now := time.Now()
		for _, m := range msgs {
			if m.Header.Type&0xff != msgPacket || len(m.Data) < 4 {
				continue
			}
			ad, err := netlink.NewAttributeDecoder(m.Data[4:])
			if err != nil {
				continue
			}
			for ad.Next() {
				if ad.Type() == attrPacketHdr && len(ad.Bytes()) >= 4 {
					s.hold(binary.BigEndian.Uint32(ad.Bytes()[:4]), now)
				}
			}
		}
	}
}

// hold schedules one packet's verdict.
func (s *delayStage) hold(id uint32, now time.Time) {
	d := s.delay
	if s.jitter > 0 {
		// Correlated jitter as netem draws it: each draw leans on the last.
		r := s.rng.Float64()*2 - 1
		s.last = s.corr*s.last + (1-s.corr)*r
		d += time.Duration(s.last * float64(s.jitter))
	}
	s.mu.Lock()
	s.seq++
	heap.Push(&s.pending, pending{id: id, due: now.Add(d), seq: s.seq})
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// release accepts packets as they come due.
func (s *delayStage) release(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		now := time.Now()
		var due []uint32
		for s.pending.Len() > 0 && !s.pending[0].due.After(now) {
			due = append(due, heap.Pop(&s.pending).(pending).id)
		}
		next := time.Hour
		if s.pending.Len() > 0 {
			next = s.pending[0].due.Sub(now)
		}
		s.mu.Unlock()
		for _, id := range due {
			s.accept(id)
		}
		timer.Reset(next)
		select {
		case <-ctx.Done():
			s.mu.Lock()
			rest := s.pending
			s.pending = nil
			s.mu.Unlock()
			for _, p := range rest {
				s.accept(p.id)
			}
			return
		case <-s.wake:
		case <-timer.C:
		}
	}
}

// accept lets one held packet go.
func (s *delayStage) accept(id uint32) {
	hdr := binary.BigEndian.AppendUint32(nil, nfAccept)
	hdr = binary.BigEndian.AppendUint32(hdr, id)
	_ = s.send(msgVerdict, netlink.Request, []netlink.Attribute{{Type: attrVerdictHdr, Data: hdr}})
}

type pending struct {
	id  uint32
	due time.Time
	seq uint64
}

// pendingHeap orders packets by due time, then arrival, so that without
// jitter they leave in the order they came.
type pendingHeap []pending

func (h pendingHeap) Len() int { return len(h) }
func (h pendingHeap) Less(i, j int) bool {
	if !h[i].due.Equal(h[j].due) {
		return h[i].due.Before(h[j].due)
	}
	return h[i].seq < h[j].seq
}
func (h pendingHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *pendingHeap) Push(x any)   { *h = append(*h, x.(pending)) }
func (h *pendingHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
