//go:build linux

package helper

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// rateClass is the htb class that limited packets go to; packets not
// steered there are sent unshaped (htb's direct queue).
const rateClass = 1

// applyNet puts spec in place in this network namespace and says which
// mechanism it used. On error it leaves nothing behind.
func applyNet(spec NetSpec) (mech string, err error) {
	links, err := shapedLinks()
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			_, _ = cleanNet()
		}
	}()
	if !spec.Filtered && !spec.ForceNetfilter && !spec.Partition {
		ok, err := tryNetem(spec, links)
		if err != nil {
			return "", err
		}
		if ok {
			return MechNetem, nil
		}
	}
	if spec.Corrupt > 0 || spec.Duplicate > 0 {
		if spec.Filtered {
			return "", errors.New("corrupt and duplicate need the kernel's netem qdisc, and with a to block also tc classifiers; use delay, loss or rate")
		}
		return "", errors.New("corrupt and duplicate need the kernel's netem qdisc (sch_netem), which this kernel lacks; use delay, loss or rate, which work through netfilter")
	}
	if spec.Rate > 0 {
		if err := addRate(spec.Rate, links, !spec.Filtered); err != nil {
			return "", err
		}
	}
	if err := addRules(spec); err != nil {
		return "", err
	}
	return MechNetfilter, nil
}

// shapedLinks are the namespace's interfaces other than loopback.
func shapedLinks() ([]netlink.Link, error) {
	all, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	var out []netlink.Link
	for _, l := range all {
		// Loopback stays untouched, as do interfaces that are down (the
		// tunnel devices some kernels create in every namespace).
		if l.Attrs().Flags&net.FlagLoopback != 0 || l.Attrs().Flags&net.FlagUp == 0 {
			continue
		}
		out = append(out, l)
	}
	if len(out) == 0 {
		return nil, errors.New("the member has no network interface besides loopback")
	}
	return out, nil
}

func rootHandle() uint32 { return netlink.MakeHandle(QdiscMajor, 0) }

// refuseForeignRoot refuses to replace a root qdisc that someone else set.
func refuseForeignRoot(l netlink.Link) error {
	qs, err := netlink.QdiscList(l)
	if err != nil {
		return fmt.Errorf("list qdiscs of %s: %w", l.Attrs().Name, err)
	}
	for _, q := range qs {
		a := q.Attrs()
		if a.Parent != netlink.HANDLE_ROOT || a.Handle == 0 {
			continue
		}
		switch q.Type() {
		case "noqueue", "pfifo_fast", "mq":
			continue
		}
		return fmt.Errorf("interface %s already has a %s qdisc (%s); tumult does not replace qdiscs it did not add",
			l.Attrs().Name, q.Type(), netlink.HandleStr(a.Handle))
	}
	return nil
}

// tryNetem adds a netem root qdisc on every link. It reports false, having
// added nothing, when the kernel has no netem.
func tryNetem(spec NetSpec, links []netlink.Link) (bool, error) {
	for i, l := range links {
		if err := refuseForeignRoot(l); err != nil {
			return false, err
		}
		q := netlink.NewNetem(netlink.QdiscAttrs{LinkIndex: l.Attrs().Index, Parent: netlink.HANDLE_ROOT, Handle: rootHandle()},
			netlink.NetemQdiscAttrs{
				Latency: uint32(spec.Delay.Microseconds()), Jitter: uint32(spec.Jitter.Microseconds()), DelayCorr: float32(spec.Correlation),
				Loss: float32(spec.Loss), Duplicate: float32(spec.Duplicate), CorruptProb: float32(spec.Corrupt),
				Rate64: spec.Rate / 8, Limit: 10000,
			})
		if err := netlink.QdiscAdd(q); err != nil {
			if i == 0 && (errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP)) {
				return false, nil // no sch_netem: the caller takes the netfilter path
			}
			return false, fmt.Errorf("add netem qdisc on %s: %w", l.Attrs().Name, err)
		}
	}
	return true, nil
}

// addRate shapes egress with htb: class 1 holds the rate; all traffic goes
// there when all is set, else only what the rules steer there.
func addRate(bits uint64, links []netlink.Link, all bool) error {
	for _, l := range links {
		if err := refuseForeignRoot(l); err != nil {
			return err
		}
		attrs := netlink.QdiscAttrs{LinkIndex: l.Attrs().Index, Parent: netlink.HANDLE_ROOT, Handle: rootHandle()}
		q := netlink.NewHtb(attrs)
		q.Defcls = 0
		if all {
			q.Defcls = rateClass
		}
		if err := netlink.QdiscAdd(q); err != nil {
			return fmt.Errorf("add htb qdisc on %s: %w", l.Attrs().Name, err)
		}
		c := netlink.NewHtbClass(netlink.ClassAttrs{LinkIndex: l.Attrs().Index, Parent: rootHandle(), Handle: netlink.MakeHandle(QdiscMajor, rateClass)},
			netlink.HtbClassAttrs{Rate: bits, Ceil: bits})
		if err := netlink.ClassAdd(c); err != nil {
			return fmt.Errorf("add htb class on %s: %w", l.Attrs().Name, err)
		}
	}
	return nil
}

// addRules adds the nftables table: drops for partition and loss, steering
// into the rate class, and the delay queue, each behind the destination
// match.
func addRules(spec NetSpec) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("open nftables: %w", err)
	}
	defer c.CloseLasting()
	t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: TableName})
	policy := nftables.ChainPolicyAccept
	out := c.AddChain(&nftables.Chain{Name: "out", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityFilter, Policy: &policy})
	var actions [][]expr.Any
	switch {
	case spec.Partition:
		actions = append(actions, []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}})
	default:
		if spec.Loss > 0 {
			actions = append(actions, lossDrop(spec.Loss))
		}
		if spec.Rate > 0 && spec.Filtered {
			actions = append(actions, []expr.Any{
				&expr.Immediate{Register: 1, Data: binaryutil.NativeEndian.PutUint32(netlink.MakeHandle(QdiscMajor, rateClass))},
				&expr.Meta{Key: expr.MetaKeyPRIORITY, SourceRegister: true, Register: 1},
			})
		}
		if spec.Delay > 0 {
			actions = append(actions, queueTo(QueueNum))
		}
	}
	for _, m := range matchers(spec, true) {
		for _, a := range actions {
			c.AddRule(&nftables.Rule{Table: t, Chain: out, Exprs: append(append([]expr.Any{}, m...), a...)})
		}
	}
	if spec.Partition {
		in := c.AddChain(&nftables.Chain{Name: "in", Table: t, Type: nftables.ChainTypeFilter,
			Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter, Policy: &policy})
		for _, m := range matchers(spec, false) {
			c.AddRule(&nftables.Rule{Table: t, Chain: in, Exprs: append(append([]expr.Any{}, m...), &expr.Verdict{Kind: expr.VerdictDrop})})
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("add nftables rules: %w", err)
	}
	return nil
}

// lossDrop drops a random share of packets: numgen random mod 10000 < p*100.
func lossDrop(percent float64) []expr.Any {
	return []expr.Any{
		&expr.Numgen{Register: 1, Modulus: 10000, Type: unix.NFT_NG_RANDOM},
		&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
		&expr.Cmp{Op: expr.CmpOpLt, Register: 1, Data: binaryutil.BigEndian.PutUint32(uint32(math.Round(percent * 100)))},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}
}

// queueTo hands packets to the NFQUEUE delay stage through the xtables
// NFQUEUE target (revision 3), since the kernel may lack nft's own queue
// expression. Its bypass flag accepts packets while no stage listens, so a
// dead stage never cuts traffic.
func queueTo(num uint16) []expr.Any {
	const bypass = 0x01
	info := make([]byte, 8) // struct xt_NFQ_info_v3, padded to 8 bytes
	binary.NativeEndian.PutUint16(info[0:], num)
	binary.NativeEndian.PutUint16(info[2:], 1) // queues_total
	binary.NativeEndian.PutUint16(info[4:], bypass)
	u := xt.Unknown(info)
	return []expr.Any{&expr.Counter{}, &expr.Target{Name: "NFQUEUE", Rev: 3, Info: &u}}
}

// matchers are the rule prefixes selecting the fault's traffic: one per
// address × port × protocol; one empty prefix for all traffic. out says
// whether they match destinations (egress) or sources (ingress).
func matchers(spec NetSpec, out bool) [][]expr.Any {
	if !spec.Filtered {
		return [][]expr.Any{nil}
	}
	var addrs [][]expr.Any
	for _, p := range spec.CIDRs {
		addrs = append(addrs, addrMatch(p, out))
	}
	if len(spec.CIDRs) == 0 {
		addrs = [][]expr.Any{nil}
	}
	if len(spec.Ports) == 0 {
		return addrs
	}
	var res [][]expr.Any
	for _, a := range addrs {
		for _, port := range spec.Ports {
			for _, proto := range []byte{unix.IPPROTO_TCP, unix.IPPROTO_UDP} {
				m := append([]expr.Any{}, a...)
				m = append(m, portMatch(proto, uint16(port), out)...)
				res = append(res, m)
			}
		}
	}
	return res
}

func addrMatch(p netip.Prefix, dst bool) []expr.Any {
	fam, off, n := byte(unix.NFPROTO_IPV4), uint32(12), uint32(4)
	if p.Addr().Is6() {
		fam, off, n = unix.NFPROTO_IPV6, 8, 16
		if dst {
			off = 24
		}
	} else if dst {
		off = 16
	}
	addr := p.Addr().AsSlice()
	mask := make([]byte, n)
	for i := 0; i < p.Bits(); i++ {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{fam}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: n, Mask: mask, Xor: make([]byte, n)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr},
	}
}

func portMatch(proto byte, port uint16, dst bool) []expr.Any {
	off := uint32(0)
	if dst {
		off = 2
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: off, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(port)},
	}
}

// cleanNet removes the table and the qdiscs tumult added, and counts them.
// What is already gone is not an error.
func cleanNet() (int, error) {
	removed := 0
	var errs []error
	c, err := nftables.New()
	if err != nil {
		errs = append(errs, fmt.Errorf("open nftables: %w", err))
	} else {
		defer c.CloseLasting()
		if _, err := c.ListTableOfFamily(TableName, nftables.TableFamilyINet); err == nil {
			c.DelTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: TableName})
			if err := c.Flush(); err != nil {
				errs = append(errs, fmt.Errorf("delete nftables table %s: %w", TableName, err))
			} else {
				removed++
			}
		}
	}
	links, err := netlink.LinkList()
	if err != nil {
		errs = append(errs, fmt.Errorf("list interfaces: %w", err))
	}
	for _, l := range links {
		qs, err := netlink.QdiscList(l)
		if err != nil {
			errs = append(errs, fmt.Errorf("list qdiscs of %s: %w", l.Attrs().Name, err))
			continue
		}
		for _, q := range qs {
			if q.Attrs().LinkIndex == l.Attrs().Index && q.Attrs().Parent == netlink.HANDLE_ROOT && q.Attrs().Handle == rootHandle() {
				if err := netlink.QdiscDel(q); err != nil && !errors.Is(err, unix.ENOENT) {
					errs = append(errs, fmt.Errorf("delete %s qdisc on %s: %w", q.Type(), l.Attrs().Name, err))
					continue
				}
				removed++
			}
		}
	}
	return removed, errors.Join(errs...)
}

// countNet lists what Clean would remove, removing nothing.
func countNet() ([]string, error) {
	var found []string
	c, err := nftables.New()
	if err != nil {
		return nil, fmt.Errorf("open nftables: %w", err)
	}
	defer c.CloseLasting()
	if _, err := c.ListTableOfFamily(TableName, nftables.TableFamilyINet); err == nil {
		found = append(found, "nftables table inet "+TableName)
	}
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	for _, l := range links {
		qs, err := netlink.QdiscList(l)
		if err != nil {
			return nil, fmt.Errorf("list qdiscs of %s: %w", l.Attrs().Name, err)
		}
		for _, q := range qs {
			if q.Attrs().LinkIndex == l.Attrs().Index && q.Attrs().Parent == netlink.HANDLE_ROOT && q.Attrs().Handle == rootHandle() {
				found = append(found, q.Type()+" qdisc on "+l.Attrs().Name)
			}
		}
	}
	return found, nil
}
