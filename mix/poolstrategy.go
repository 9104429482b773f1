package mix

import "github.com/mixgo/mixgo/pool"

// poolStrategy builds the configured mixing strategy (docs/ANONYMITY.md).
// Validate has checked the name and parameters, so only a configuration
// that skipped it can fail here.
func (c *Config) poolStrategy() (pool.Strategy, error) {
	return pool.New(c.PoolStrategy, pool.Params{
		PoolSize:     c.PoolSize,
		Rate:         c.PoolRate,
		BinomialMean: float64(c.BinomialMean),
		BinomialSD:   float64(c.BinomialSD),
		BinomialMax:  c.BinomialMax,
		PoissonMean:  c.PoissonMean,
	})
}
