// Package hclread is the small HCL decoding kit that the agent config
// (config) and the policy files (policies) share: reading a block against
// a schema with required attributes reported at the block's header,
// constant values of each type, tumult's duration syntax ("90s", "7d"),
// and a collector of diagnostics that keeps every mistake with its
// file:line:column.
//
// It knows no tumult vocabulary and must not import any tumult package.
package hclread
