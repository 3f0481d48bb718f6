package policies

import (
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
)

// dockerNameRunes are the characters Docker allows in a container name,
// which must match [a-zA-Z0-9][a-zA-Z0-9_.-]+ (so at least two characters).
const dockerNameRunes = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"

// coverLimit bounds the states nameCoverage explores. Patterns people
// write for container names need a few dozen; past the limit the answer
// is "cannot tell", which lets the pattern through.
const coverLimit = 4096

// Coverage of a name pattern over every container name Docker allows.
type coverage int

const (
	coverSome    coverage = iota // matches some names and not others, or cannot tell
	coverAll                     // matches every name: selects nothing out
	coverNothing                 // matches no name: selects nothing at all
)

// nameCoverage decides whether pattern, used as Go's regexp does for a
// name selector (an unanchored search), matches every Docker container
// name, none, or some. It is exact: it walks the pattern's automaton over
// Docker's name alphabet, with ^, $, \b and \B evaluated as the search
// evaluates them, instead of trying sample names. Spelling does not
// matter: "", ".*", "^", ".", "\w" and "[a-zA-Z0-9]" all match every
// name; "^$", "/" and "a^b" match none.
func nameCoverage(pattern string) coverage {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return coverSome
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return coverSome
	}
	type state struct {
		pcs  []uint32 // threads waiting at rune instructions, sorted
		prev rune     // -1 at the start; else a stand-in of the last rune's class
		n    int      // runes read so far, capped at 2 (a name needs 2)
	}
	key := func(s state) string {
		var b strings.Builder
		for _, pc := range s.pcs {
			b.WriteString(strconv.FormatUint(uint64(pc), 10))
			b.WriteByte(',')
		}
		b.WriteRune(s.prev)
		b.WriteByte(byte('0' + s.n))
		return b.String()
	}
	// step runs the search one position on: the threads waiting in pcs
	// plus a new one starting here (the search is unanchored), with next
	// the rune after this position (-1 at the end). It reports whether a
	// match completes here, and otherwise the threads that consume next.
	step := func(pcs []uint32, prev, next rune) (bool, []uint32) {
		ctx := syntax.EmptyOpContext(prev, next)
		seen := map[uint32]bool{}
		var out []uint32
		matched := false
		var follow func(pc uint32)
		follow = func(pc uint32) {
			if seen[pc] || matched {
				return
			}
			seen[pc] = true
			in := &prog.Inst[pc]
			switch in.Op {
			case syntax.InstMatch:
				matched = true
			case syntax.InstAlt, syntax.InstAltMatch:
				follow(in.Out)
				follow(in.Arg)
			case syntax.InstCapture, syntax.InstNop:
				follow(in.Out)
			case syntax.InstEmptyWidth:
				if syntax.EmptyOp(in.Arg)&^ctx == 0 {
					follow(in.Out)
				}
			case syntax.InstRune, syntax.InstRune1:
				if next >= 0 && in.MatchRune(next) {
					out = append(out, in.Out)
				}
			case syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
				if next >= 0 {
					out = append(out, in.Out)
				}
			}
		}
		for _, pc := range pcs {
			follow(pc)
		}
		follow(uint32(prog.Start))
		if matched {
			return true, nil
		}
		slices.Sort(out)
		return false, slices.Compact(out)
	}
	stand := func(r rune) rune {
		if syntax.IsWordChar(r) {
			return 'a'
		}
		return '-'
	}

	var someMatch, someMiss bool
	queue := []state{{prev: -1}}
	visited := map[string]bool{key(queue[0]): true}
	for len(queue) > 0 {
		if someMatch && someMiss {
			return coverSome
		}
		if len(visited) > coverLimit {
			return coverSome
		}
		s := queue[0]
		queue = queue[1:]
		if s.n >= 2 {
			// The name may end here.
			if matched, _ := step(s.pcs, s.prev, -1); matched {
				someMatch = true
			} else {
				someMiss = true
			}
		}
		alphabet := dockerNameRunes
		if s.n == 0 {
			alphabet = dockerNameRunes[:62] // a name starts with a letter or digit
		}
		for _, r := range alphabet {
			matched, next := step(s.pcs, s.prev, r)
			if matched {
				// Every name that goes on with r matches.
				someMatch = true
				continue
			}
			ns := state{pcs: next, prev: stand(r), n: min(s.n+1, 2)}
			if k := key(ns); !visited[k] {
				visited[k] = true
				queue = append(queue, ns)
			}
		}
	}
	switch {
	case !someMiss:
		return coverAll
	case !someMatch:
		return coverNothing
	}
	return coverSome
}
