// Package conf reads the project's configuration files: lines
// "name = value" with # comments, into a struct whose fields carry their
// name, default and documentation in tags:
//
//	PoolSize int `conf:"pool_size" default:"45" doc:"..."`
//
// mixd.conf (package mix) and the client's mix.conf (internal/client) both
// use it, so both accept the same value syntax.
package conf

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Field is one option as its tags describe it.
type Field struct {
	Name, Default, Doc string
	Index              int // position in the struct (reflect.Value.Field)
}

// Fields lists the options of the struct ptr points to, in declaration order.
func Fields(ptr any) []Field {
	t := reflect.TypeOf(ptr).Elem()
	out := make([]Field, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if name := f.Tag.Get("conf"); name != "" {
			out = append(out, Field{name, f.Tag.Get("default"), f.Tag.Get("doc"), i})
		}
	}
	return out
}

// SetDefaults assigns every field its default tag. A default that does not
// parse is a programming error, reported as one.
func SetDefaults(ptr any) error {
	v := reflect.ValueOf(ptr).Elem()
	for _, f := range Fields(ptr) {
		if f.Default == "" {
			continue
		}
		if err := setValue(v.Field(f.Index), f.Default); err != nil {
			return fmt.Errorf("conf: default of %s: %w", f.Name, err)
		}
	}
	return nil
}

// ErrUnknown is returned (wrapped) for a name no field has.
var ErrUnknown = errors.New("unknown option")

// Set assigns the option called name.
func Set(ptr any, name, value string) error {
	v := reflect.ValueOf(ptr).Elem()
	for _, f := range Fields(ptr) {
		if f.Name == name {
			if err := setValue(v.Field(f.Index), strings.TrimSpace(value)); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		}
	}
	return fmt.Errorf("%w %q", ErrUnknown, name)
}

// Syntax says which line forms Parse accepts besides "name = value".
type Syntax struct {
	SpaceSeparated bool // "name value", as Mixmaster's files allow
	FoldCase       bool // option names are case-insensitive
}

// Parse reads data over the struct ptr points to; errors name the line.
func Parse(ptr any, data []byte, syn Syntax) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok && syn.SpaceSeparated {
			name, value, ok = strings.Cut(line, " ")
		}
		if !ok {
			return fmt.Errorf("line %d: expected 'name = value'", n)
		}
		name = strings.TrimSpace(name)
		if syn.FoldCase {
			name = strings.ToLower(name)
		}
		if err := Set(ptr, name, value); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
	}
	return sc.Err()
}

func setValue(f reflect.Value, s string) error {
	if f.Type() == reflect.TypeOf(time.Duration(0)) {
		d, err := ParseDuration(s)
		if err != nil {
			return err
		}
		f.SetInt(int64(d))
		return nil
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(s)
	case reflect.Bool:
		b, err := ParseBool(s)
		if err != nil {
			return err
		}
		f.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", s)
		}
		f.SetInt(n)
	case reflect.Float64:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		f.SetFloat(x)
	default:
		return fmt.Errorf("unsupported type %s", f.Type())
	}
	return nil
}

// ParseBool takes y/n, yes/no, true/false, on/off and 1/0 (Mixmaster
// writes y and n).
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "y", "yes", "true", "on", "1":
		return true, nil
	case "n", "no", "false", "off", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (y/n)", s)
}

// ParseDuration takes Go durations ("90s", "1h30m"), Mixmaster's days and
// weeks ("7d", "2w", "1.5d") and "0".
func ParseDuration(s string) (time.Duration, error) {
	if s == "0" {
		return 0, nil
	}
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			if x, err := strconv.ParseFloat(n, 64); err == nil && x >= 0 && x < 1e5 {
				return time.Duration(x * float64(unit)), nil
			}
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (like 90s, 15m, 36h, 7d)", s)
	}
	return d, nil
}
