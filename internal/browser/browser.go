// Package browser renders pages in a real headless Chromium (Debian's
// chromium package) through the DevTools protocol, for the tests of what a
// person looks at: the HTML reports. It collects what the page wrote to the
// console and threw, and takes a screenshot.
package browser

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"time"

	"github.com/chromedp/chromedp"
)

// ErrNoChromium is returned when no Chromium is installed.
var ErrNoChromium = errors.New("no Chromium found (apt-get install chromium)")

// Path returns the Chromium binary: $CHROMIUM, or chromium or
// chromium-browser on PATH.
func Path() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", ErrNoChromium
}

// Page is what a page showed once loaded.
type Page struct {
	// Console holds the console messages of level error and warning,
	// the exceptions thrown and the browser's own log errors (a resource
	// that failed to load, a blocked request).
	Console []string
	// Result is the value of the script evaluated after the load.
	Result any
	// Screenshot is a PNG of the whole page.
	Screenshot []byte
}

// Render opens url (a file:// or loopback address) in a fresh headless
// Chromium with no network beyond loopback, waits for the load, evaluates
// script and takes a full-page screenshot.
func Render(ctx context.Context, url, script string) (*Page, error) {
	path, err := Path()
	if err != nil {
		return nil, err
	}
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox refuses to start
		chromedp.Flag("disable-gpu", true),
		// Nothing beyond loopback: the report must be self-contained.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	bctx, cancelT := context.WithTimeout(bctx, time.Minute)
	defer cancelT()

	page := &Page{}
	cctx, stopConsole := context.WithCancel(bctx)
	messages := chromedp.Console(cctx) // subscribed now, read below
	read := make(chan struct{})
	go func() {
		defer close(read)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning {
				page.Console = append(page.Console, m.String())
			}
		}
	}()
	err = chromedp.Do(bctx, chromedp.Navigate(url), chromedp.WaitReady("body"))
	if err == nil {
		page.Result, err = chromedp.Run(bctx, chromedp.Evaluate[any](script))
	}
	if err == nil {
		page.Screenshot, err = chromedp.Run(bctx, chromedp.FullScreenshot(100)) // 100: PNG
	}
	time.Sleep(200 * time.Millisecond) // late console messages
	stopConsole()
	<-read
	if err != nil {
		return nil, fmt.Errorf("rendering %s in Chromium (%s): %w", url, path, err)
	}
	return page, nil
}

// Chart is what one of the report's charts (an svg.chart) drew.
type Chart struct {
	ID     string  `json:"id"`
	Width  float64 `json:"w"`
	Height float64 `json:"h"`
	// Series counts the lines drawn with at least two points; Lanes the
	// fault lanes; Leak the first-leak marks.
	Series int `json:"series"`
	Lanes  int `json:"lanes"`
	Leak   int `json:"leak"`
}

// chartsScript measures every svg.chart of the page as laid out.
const chartsScript = `Array.from(document.querySelectorAll('svg.chart')).map(s => {
  const r = s.getBoundingClientRect();
  return {id: s.id, w: r.width, h: r.height,
    series: Array.from(s.querySelectorAll('polyline.series')).filter(p => p.points.numberOfItems > 1).length,
    lanes: s.querySelectorAll('rect.lane').length,
    leak: s.querySelectorAll('line.first-leak').length};
})`

// Charts renders url and returns what each chart drew, with the page.
func Charts(ctx context.Context, url string) ([]Chart, *Page, error) {
	page, err := Render(ctx, url, chartsScript)
	if err != nil {
		return nil, nil, err
	}
	raw, err := json.Marshal(page.Result)
	if err != nil {
		return nil, nil, err
	}
	var charts []Chart
	if err := json.Unmarshal(raw, &charts); err != nil {
		return nil, nil, fmt.Errorf("reading the charts of %s: %w", url, err)
	}
	return charts, page, nil
}
