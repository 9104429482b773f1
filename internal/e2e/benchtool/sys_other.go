//go:build !linux

package main

import (
	"errors"
	"time"
)

func syncfs(string) error { return errors.New("syncfs: Linux only") }

func cpuTime() time.Duration { return 0 }
