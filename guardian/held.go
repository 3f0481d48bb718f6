package guardian

import "time"

// Alerts delivered by Alertmanager's webhook are held until resolved or
// not repeated for webhookTTL. A delivery can hold a hundred thousand of
// them (an alert storm), and every evaluation judges every alert wire, so
// the alerts are indexed once, when they arrive: each alert wire keeps the
// held alerts its matchers match, and an evaluation reads only those. A
// matching alert is then found in time that does not grow with the number
// of alerts held, and an expiry queue in arrival order drops old ones
// without a scan.

// heldAlert is one alert held from the webhook, with what judging needs
// computed once.
type heldAlert struct {
	Alert
	// from is the Alertmanager that sent it; empty counts for every one.
	from     string
	receiver string
	seen     time.Time
	key      string // alertKey
	wkey     string // from|key: one alert per sender
	name     string // alertName
}

// heldIndex is the held alerts one alert wire matches.
type heldIndex struct {
	byWKey map[string]*heldAlert
	// keys counts held alerts by alert key: the same alert sent by two
	// Alertmanagers counts once.
	keys map[string]int
	// first is the match with the smallest wkey (so that a reason names
	// the same alert from one evaluation to the next); recomputed when
	// stale.
	first *heldAlert
	stale bool
}

func newHeldIndex() *heldIndex {
	return &heldIndex{byWKey: map[string]*heldAlert{}, keys: map[string]int{}}
}

func (x *heldIndex) add(h *heldAlert) {
	if _, ok := x.byWKey[h.wkey]; ok {
		x.byWKey[h.wkey] = h
		if x.first != nil && x.first.wkey == h.wkey {
			x.first = h
		}
		return
	}
	x.byWKey[h.wkey] = h
	x.keys[h.key]++
	if !x.stale && (x.first == nil || h.wkey < x.first.wkey) {
		x.first = h
	}
}

func (x *heldIndex) remove(wkey string) {
	h, ok := x.byWKey[wkey]
	if !ok {
		return
	}
	delete(x.byWKey, wkey)
	if x.keys[h.key]--; x.keys[h.key] <= 0 {
		delete(x.keys, h.key)
	}
	if x.first != nil && x.first.wkey == wkey {
		x.first, x.stale = nil, len(x.byWKey) > 0
	}
}

// firstHit is the match with the smallest wkey, nil when none.
func (x *heldIndex) firstHit() *heldAlert {
	if x.stale {
		x.first, x.stale = nil, false
		for _, h := range x.byWKey {
			if x.first == nil || h.wkey < x.first.wkey {
				x.first = h
			}
		}
	}
	return x.first
}

// heldAlerts are every alert held from the webhook.
type heldAlerts struct {
	all map[string]*heldAlert // by wkey
	// queue holds (wkey, seen) in arrival order; an entry whose alert was
	// seen again since is skipped when it comes up.
	queue []heldExpiry
	head  int
}

type heldExpiry struct {
	wkey string
	seen time.Time
}

func newHeldAlerts() *heldAlerts { return &heldAlerts{all: map[string]*heldAlert{}} }

// matches reports whether wire wr counts held alert h.
func (wr *wire) matches(h *heldAlert) bool {
	if h.from != "" && "alertmanager/"+h.from != wr.src.name {
		return false
	}
	return alertTrips(h.Labels, wr.matchers)
}

// indexWires gives each alert wire its index: a wire kept across a reload
// keeps its own (prev, by wire key), a new one is built from every held
// alert, once. Locked.
func (w *Watcher) indexWires(wires []*wire, prev map[string]*wire) {
	for _, wr := range wires {
		if wr.kind != KindAlert {
			continue
		}
		if p, ok := prev[wr.key()]; ok && p.held != nil {
			wr.held = p.held
			continue
		}
		wr.held = newHeldIndex()
		for _, h := range w.held.all {
			if wr.matches(h) {
				wr.held.add(h)
			}
		}
	}
}

// hold takes a delivery's alerts into the index. Its cost is the
// delivery's size times the number of alert wires. Locked.
func (w *Watcher) hold(d Delivery, now time.Time) {
	for _, a := range d.Resolved {
		w.release(webhookKey(d.Alertmanager, a))
	}
	for _, a := range d.Firing {
		if IsAnnouncement(a.Labels) {
			continue
		}
		key := alertKey(a)
		h := &heldAlert{Alert: a, from: d.Alertmanager, receiver: d.Receiver, seen: now, key: key, wkey: d.Alertmanager + "|" + key, name: alertName(a)}
		w.held.all[h.wkey] = h
		w.held.queue = append(w.held.queue, heldExpiry{wkey: h.wkey, seen: now})
		for _, wr := range w.wires {
			if wr.held == nil {
				continue
			}
			if wr.matches(h) {
				wr.held.add(h)
			} else {
				wr.held.remove(h.wkey)
			}
		}
	}
}

// release forgets one held alert. Locked.
func (w *Watcher) release(wkey string) {
	if _, ok := w.held.all[wkey]; !ok {
		return
	}
	delete(w.held.all, wkey)
	for _, wr := range w.wires {
		if wr.held != nil {
			wr.held.remove(wkey)
		}
	}
}

// expireHeld forgets held alerts not repeated for webhookTTL, oldest
// first, stopping at the first one still fresh. Locked.
func (w *Watcher) expireHeld(now time.Time) {
	q := w.held
	for q.head < len(q.queue) {
		e := q.queue[q.head]
		if now.Sub(e.seen) < w.webhookTTL {
			break
		}
		q.queue[q.head] = heldExpiry{}
		q.head++
		if h, ok := q.all[e.wkey]; ok && h.seen.Equal(e.seen) {
			w.release(e.wkey)
		}
	}
	// Compact once the consumed part dominates, so the queue's memory
	// follows the alerts held, not every delivery ever made.
	if q.head > 1024 && q.head*2 > len(q.queue) {
		q.queue = append([]heldExpiry(nil), q.queue[q.head:]...)
		q.head = 0
	}
}
