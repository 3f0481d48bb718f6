package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"strings"
)

// The file layout bbolt writes (go.etcd.io/bbolt/internal/common): pages
// with a 16-byte header, two meta pages at the start, a freelist page and
// B+tree pages. inspectFile reads it with plain reads, never through a
// memory map, so that a damaged file is refused with an error instead of
// crashing the process: bbolt trusts the file, and a page id past the end
// of a truncated file turns into SIGBUS, a damaged page into a panic.
const (
	pageHeaderSize  = 16
	elementSize     = 16 // branch and leaf elements are both 16 bytes
	metaSize        = 64
	metaChecksumEnd = 56 // the checksum covers the meta up to itself
	inBucketSize    = 16 // root page id, sequence

	boltMagic   = 0xED0CDAED
	boltVersion = 2

	flagBranch   = 0x01
	flagLeaf     = 0x02
	flagMeta     = 0x04
	flagFreelist = 0x10
	flagBucket   = 0x01 // on a leaf element: the value is a bucket

	noFreelist = ^uint64(0)

	// maxDepth bounds the walk: a B+tree of a ledger is a few levels
	// deep, and a damaged file could otherwise make a cycle of pages.
	maxDepth = 64
)

// bbolt writes its pages in the machine's byte order.
var order = binary.NativeEndian

// fileState is what inspectFile found.
type fileState struct {
	Missing bool
	Empty   bool
	Size    int64
	// TxID is the last committed transaction the valid meta page names.
	TxID     uint64
	PageSize int
	// Pages is the high-water mark: pages the file must hold.
	Pages uint64
	// Damage says what is wrong with a file that cannot be opened safely;
	// empty when the file is sound.
	Damage string
	// BadMeta is the damaged meta page (0 or 1) when the other one is
	// sound, else -1. bbolt then reads the sound one, which may hold the
	// previous transaction; its next commit rewrites the damaged one.
	BadMeta int
	// BadMetaWhy says what is wrong with BadMeta.
	BadMetaWhy string
}

// meta is a decoded meta page.
type meta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	pages    uint64
	txid     uint64
}

func decodeMeta(b []byte) (meta, error) {
	if len(b) < pageHeaderSize+metaSize {
		return meta{}, errors.New("short meta page")
	}
	if flags := order.Uint16(b[8:]); flags != flagMeta {
		return meta{}, fmt.Errorf("not a meta page (flags %#x)", flags)
	}
	m := b[pageHeaderSize : pageHeaderSize+metaSize]
	if order.Uint32(m[0:]) != boltMagic {
		return meta{}, errors.New("not a bbolt file (bad magic)")
	}
	if v := order.Uint32(m[4:]); v != boltVersion {
		return meta{}, fmt.Errorf("bbolt format version %d, this tumult reads %d", v, boltVersion)
	}
	h := fnv.New64a()
	_, _ = h.Write(m[:metaChecksumEnd])
	if h.Sum64() != order.Uint64(m[metaChecksumEnd:]) {
		return meta{}, errors.New("meta page checksum mismatch")
	}
	return meta{
		pageSize: order.Uint32(m[8:]),
		root:     order.Uint64(m[16:]),
		freelist: order.Uint64(m[32:]),
		pages:    order.Uint64(m[40:]),
		txid:     order.Uint64(m[48:]),
	}, nil
}

// inspectFile checks the ledger file at path without memory-mapping it:
// both meta pages, the file's size against the pages the meta names, the
// freelist, and every page reachable from the root (page ids in range,
// page types, element bounds). It returns an error only when the file
// cannot be read; damage is reported in fileState.Damage.
func inspectFile(path string) (fileState, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return fileState{Missing: true}, nil
	}
	if err != nil {
		return fileState{}, fmt.Errorf("read ledger %s: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fileState{}, fmt.Errorf("read ledger %s: %w", path, err)
	}
	st := fileState{Size: info.Size(), BadMeta: -1}
	if !info.Mode().IsRegular() {
		st.Damage = "not a regular file (" + info.Mode().Type().String() + ")"
		return st, nil
	}
	if st.Size == 0 {
		st.Empty = true
		return st, nil
	}
	m, bad, why, damage := readMetas(f, st.Size)
	st.BadMeta, st.BadMetaWhy = bad, why
	if damage != "" {
		st.Damage = damage
		return st, nil
	}
	st.TxID, st.PageSize, st.Pages = m.txid, int(m.pageSize), m.pages
	if need := int64(m.pages) * int64(m.pageSize); st.Size < need {
		st.Damage = fmt.Sprintf("truncated: the file is %d bytes, its header says %d pages of %d bytes (%d bytes)", st.Size, m.pages, m.pageSize, need)
		return st, nil
	}
	w := walker{r: f, meta: m, seen: map[uint64]bool{0: true, 1: true}}
	if err := w.walk(); err != nil {
		st.Damage = err.Error()
	}
	return st, nil
}

// readMetas returns the newer valid meta page, as bbolt picks it, and
// which one is damaged (-1: none) and how.
func readMetas(r io.ReaderAt, size int64) (best meta, bad int, why, damage string) {
	best, why, damage = pickMeta(r, size)
	switch {
	case damage != "" || why == "":
		return best, -1, why, damage
	case strings.HasPrefix(why, "0:"):
		return best, 0, why[2:], ""
	default:
		return best, 1, why[2:], ""
	}
}

func pickMeta(r io.ReaderAt, size int64) (meta, string, string) {
	// The page size is in the meta; the first page starts at offset 0
	// whatever it is, the second one page size later.
	first := make([]byte, pageHeaderSize+metaSize)
	if _, err := r.ReadAt(first, 0); err != nil {
		return meta{}, "", fmt.Sprintf("too short for a ledger (%d bytes)", size)
	}
	m0, err0 := decodeMeta(first)
	var candidates []meta
	if err0 == nil {
		candidates = append(candidates, m0)
	}
	// Try the second meta at the first's page size, or at the common
	// sizes when the first is damaged.
	sizes := []int64{4096, 8192, 16384, 65536}
	if err0 == nil {
		sizes = []int64{int64(m0.pageSize)}
	}
	var err1 error = errors.New("not found")
	for _, ps := range sizes {
		second := make([]byte, pageHeaderSize+metaSize)
		if _, err := r.ReadAt(second, ps); err != nil {
			continue
		}
		m1, err := decodeMeta(second)
		if err == nil && int64(m1.pageSize) == ps {
			candidates, err1 = append(candidates, m1), nil
			break
		}
		err1 = err
	}
	if len(candidates) == 0 {
		return meta{}, "", fmt.Sprintf("both meta pages are damaged (%v; %v)", err0, err1)
	}
	best := candidates[0]
	for _, c := range candidates[1:] {
		if c.txid > best.txid {
			best = c
		}
	}
	if best.pageSize < 1024 || best.pageSize > 1<<20 || best.pageSize&(best.pageSize-1) != 0 {
		return meta{}, "", fmt.Sprintf("meta page names an impossible page size %d", best.pageSize)
	}
	if best.pages < 3 || best.root < 2 || best.root >= best.pages || (best.freelist != noFreelist && (best.freelist < 2 || best.freelist >= best.pages)) {
		return meta{}, "", fmt.Sprintf("meta page names pages out of range (root %d, freelist %d, %d pages)", best.root, best.freelist, best.pages)
	}
	switch {
	case err0 != nil:
		return best, "0:" + err0.Error(), ""
	case err1 != nil:
		return best, "1:" + err1.Error(), ""
	}
	return best, "", ""
}

// walker visits every page reachable from the meta page.
type walker struct {
	r    io.ReaderAt
	meta meta
	seen map[uint64]bool
}

func (w *walker) walk() error {
	if w.meta.freelist != noFreelist {
		if err := w.freelist(w.meta.freelist); err != nil {
			return err
		}
	}
	return w.tree(w.meta.root, 0)
}

// page reads page id with its overflow pages and checks its header.
func (w *walker) page(id uint64) ([]byte, error) {
	ps := int64(w.meta.pageSize)
	if id < 2 || id >= w.meta.pages {
		return nil, fmt.Errorf("page id %d out of range (2..%d)", id, w.meta.pages-1)
	}
	if w.seen[id] {
		return nil, fmt.Errorf("page %d is referenced twice", id)
	}
	head := make([]byte, pageHeaderSize)
	if _, err := w.r.ReadAt(head, int64(id)*ps); err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	if got := order.Uint64(head); got != id {
		return nil, fmt.Errorf("page %d holds the header of page %d", id, got)
	}
	overflow := uint64(order.Uint32(head[12:]))
	if id+overflow >= w.meta.pages {
		return nil, fmt.Errorf("page %d overflows past the end (%d more pages)", id, overflow)
	}
	for i := id; i <= id+overflow; i++ {
		w.seen[i] = true
	}
	buf := make([]byte, int64(overflow+1)*ps)
	if _, err := w.r.ReadAt(buf, int64(id)*ps); err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	return buf, nil
}

func (w *walker) freelist(id uint64) error {
	p, err := w.page(id)
	if err != nil {
		return fmt.Errorf("freelist: %w", err)
	}
	if flags := order.Uint16(p[8:]); flags != flagFreelist {
		return fmt.Errorf("freelist: page %d is not a freelist page (flags %#x)", id, flags)
	}
	start, count := pageHeaderSize, uint64(order.Uint16(p[10:]))
	if count == 0xFFFF {
		count = order.Uint64(p[pageHeaderSize:])
		start += 8
	}
	if count > uint64(len(p)-start)/8 {
		return fmt.Errorf("freelist: page %d claims %d ids, it holds at most %d", id, count, (len(p)-start)/8)
	}
	for i := range count {
		if free := order.Uint64(p[start+int(i)*8:]); free < 2 || free >= w.meta.pages {
			return fmt.Errorf("freelist: page %d lists page %d, out of range", id, free)
		}
	}
	return nil
}

// tree checks the B+tree rooted at page id and the buckets in it.
func (w *walker) tree(id uint64, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("page %d: tree deeper than %d levels", id, maxDepth)
	}
	p, err := w.page(id)
	if err != nil {
		return err
	}
	return w.node(p, id, depth)
}

// node checks the elements of one page (or inline bucket page) p.
func (w *walker) node(p []byte, id uint64, depth int) error {
	flags, count := order.Uint16(p[8:]), int(order.Uint16(p[10:]))
	if pageHeaderSize+count*elementSize > len(p) {
		return fmt.Errorf("page %d: %d elements do not fit", id, count)
	}
	for i := range count {
		off := pageHeaderSize + i*elementSize
		e := p[off : off+elementSize]
		switch flags {
		case flagBranch:
			pos, ksize := int(order.Uint32(e[0:])), int(order.Uint32(e[4:]))
			if off+pos+ksize > len(p) || pos < 0 {
				return fmt.Errorf("page %d: element %d points past the page", id, i)
			}
			if err := w.tree(order.Uint64(e[8:]), depth+1); err != nil {
				return err
			}
		case flagLeaf:
			eflags := order.Uint32(e[0:])
			pos, ksize, vsize := int64(order.Uint32(e[4:])), int64(order.Uint32(e[8:])), int64(order.Uint32(e[12:]))
			if int64(off)+pos+ksize+vsize > int64(len(p)) {
				return fmt.Errorf("page %d: element %d points past the page", id, i)
			}
			if eflags&flagBucket == 0 {
				continue
			}
			v := p[int64(off)+pos+ksize : int64(off)+pos+ksize+vsize]
			if len(v) < inBucketSize {
				return fmt.Errorf("page %d: element %d is a bucket too short to read", id, i)
			}
			root := order.Uint64(v)
			if root != 0 {
				if err := w.tree(root, depth+1); err != nil {
					return err
				}
				continue
			}
			inline := v[inBucketSize:]
			if len(inline) < pageHeaderSize {
				return fmt.Errorf("page %d: element %d is an inline bucket too short to read", id, i)
			}
			if f := order.Uint16(inline[8:]); f != flagLeaf {
				return fmt.Errorf("page %d: element %d is an inline bucket of the wrong type (flags %#x)", id, i, f)
			}
			if err := w.node(inline, id, depth+1); err != nil {
				return err
			}
		default:
			return fmt.Errorf("page %d: expected a branch or leaf page, found flags %#x", id, flags)
		}
	}
	if count == 0 && flags != flagBranch && flags != flagLeaf {
		return fmt.Errorf("page %d: expected a branch or leaf page, found flags %#x", id, flags)
	}
	return nil
}
