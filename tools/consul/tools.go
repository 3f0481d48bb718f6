//go:build tools

// Package tools tracks the Consul server module so that go.mod and go.sum
// pin it; nothing here is compiled into tumult.
package tools

import _ "github.com/hashicorp/consul"
