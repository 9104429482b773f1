package mix

import (
	"fmt"
	"strings"
	"testing"
)

func TestPoolStrategyConfig(t *testing.T) {
	base := "name = alpha\naddress = alpha@remailer.test\n"
	for _, c := range []struct {
		extra, want string // want: the strategy's String, or "error: …"
	}{
		{"", "poisson(mean=1h0m0s, poolsize=45)"}, // the default docs/ANONYMITY.md chose
		{"pool_strategy = timed-dynamic\n", "timed-dynamic(poolsize=45, rate=65%)"},
		{"pool_strategy = poisson\npoisson_mean = 90m\npool_size = 20\n", "poisson(mean=1h30m0s, poolsize=20)"},
		{"pool_strategy = binomial\nbinomial_mean = 30\nbinomial_sd = 10\nbinomial_max_percent = 80\n", "binomial(mean=30, sd=10, max=80%)"},
		{"pool_strategy = threshold\n", "error: pool_strategy"},
		{"pool_strategy = poisson\npoisson_mean = 0s\n", "error: poisson_mean"},
		{"pool_strategy = binomial\nbinomial_max_percent = 0\n", "error: binomial_max_percent"},
	} {
		cfg, err := ParseConfig([]byte(base + c.extra))
		if strings.HasPrefix(c.want, "error: ") {
			if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(c.want, "error: ")) {
				t.Errorf("%q: error %v, want one naming %s", c.extra, err, strings.TrimPrefix(c.want, "error: "))
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", c.extra, err)
		}
		s, err := cfg.poolStrategy()
		if err != nil {
			t.Fatalf("%q: %v", c.extra, err)
		}
		if got := fmt.Sprint(s); got != c.want {
			t.Errorf("%q: strategy %s, want %s", c.extra, got, c.want)
		}
	}
}
