package policies

import (
	"strconv"
	"strings"
)

// signals are the POSIX signal names drivers accept, with their Linux
// numbers.
var signals = map[string]int{
	"SIGHUP": 1, "SIGINT": 2, "SIGQUIT": 3, "SIGILL": 4, "SIGTRAP": 5, "SIGABRT": 6, "SIGBUS": 7,
	"SIGFPE": 8, "SIGKILL": 9, "SIGUSR1": 10, "SIGSEGV": 11, "SIGUSR2": 12, "SIGPIPE": 13,
	"SIGALRM": 14, "SIGTERM": 15, "SIGCHLD": 17, "SIGCONT": 18, "SIGSTOP": 19, "SIGTSTP": 20,
	"SIGTTIN": 21, "SIGTTOU": 22, "SIGURG": 23, "SIGXCPU": 24, "SIGXFSZ": 25, "SIGVTALRM": 26,
	"SIGPROF": 27, "SIGWINCH": 28, "SIGIO": 29, "SIGPWR": 30, "SIGSYS": 31,
}

// NormalizeSignal turns "kill", "SIGKILL" or "9" into "SIGKILL". ok is
// false for anything else.
func NormalizeSignal(s string) (string, bool) {
	u := strings.ToUpper(strings.TrimSpace(s))
	if n, err := strconv.Atoi(u); err == nil {
		for name, num := range signals {
			if num == n {
				return name, true
			}
		}
		return "", false
	}
	if !strings.HasPrefix(u, "SIG") {
		u = "SIG" + u
	}
	_, ok := signals[u]
	return u, ok
}
