package portal

import (
	"sync/atomic"
	"time"
)

// loadMeter counts a replica's requests in 100 ms windows. Some defects only
// show on a hot replica, as the incidents they reproduce did ("rare timing
// under load", "two jobs running at once" in a surge).
type loadMeter struct {
	win  atomic.Int64
	cur  atomic.Int64
	prev atomic.Int64
}

const meterWindow = 100 * time.Millisecond

// hotRate is the request rate from which a replica counts as hot: well
// above what a replica sees at a scenario's base rate, well below a spike.
const hotRate = 250

func (m *loadMeter) hit() {
	w := time.Now().UnixNano() / int64(meterWindow)
	if old := m.win.Load(); old != w && m.win.CompareAndSwap(old, w) {
		if w == old+1 {
			m.prev.Store(m.cur.Swap(0))
		} else {
			m.prev.Store(0)
			m.cur.Store(0)
		}
	}
	m.cur.Add(1)
}

// rate returns requests per second over the last full window.
func (m *loadMeter) rate() float64 {
	w := time.Now().UnixNano() / int64(meterWindow)
	switch m.win.Load() {
	case w:
		return float64(m.prev.Load()) * float64(time.Second/meterWindow)
	case w - 1:
		return float64(m.cur.Load()) * float64(time.Second/meterWindow)
	}
	return 0
}

func (r *Replica) hot() bool { return r.load.rate() >= hotRate }
