//go:build !unix

package main

import "io"

// terminalWidth is 0 (do not cut) where tumult cannot ask the terminal.
func terminalWidth(io.Writer) int { return 0 }
