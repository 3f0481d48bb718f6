//go:build !linux

package helper

import "errors"

var errNotLinux = errors.New("network faults need Linux")

func applyNet(NetSpec) (string, error) { return "", errNotLinux }
func cleanNet() (int, error)           { return 0, errNotLinux }
func countNet() ([]string, error)      { return nil, errNotLinux }

type delayStage struct{}

func startDelayStage(NetSpec) (*delayStage, error)                    { return nil, errNotLinux }
func (*delayStage) run(ctx interface{ Done() <-chan struct{} }) error { return errNotLinux }
