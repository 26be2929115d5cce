// Command plot draws the figures of BENCHMARKS.md from the results.json that hack/bench
// writes: converge time against N, the operator's and the floor's, and the distributions of
// follow latency. It is a module of its own so that gonum's plotting never enters the
// operator's dependencies.
//
//	go run . -in ../../docs/bench/results.json -out ../../docs/bench
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"image/color"
	"log"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// results is the part of hack/bench's results.json drawn here. Durations are nanoseconds.
type results struct {
	Results []struct {
		N                                   int
		FloorCreates, FloorStatus, Converge time.Duration
		NamespaceAlias                      time.Duration
		FollowIdle, FollowStartup           []follow
		FollowLive                          []follow
	}
}

type follow struct{ Total, Create, Operator time.Duration }

// One colour per size, in the order of the run; the Okabe-Ito palette reads in colour-blind
// eyes and in grey.
var palette = []color.Color{
	color.RGBA{0, 114, 178, 255}, color.RGBA{213, 94, 0, 255}, color.RGBA{0, 158, 115, 255},
	color.RGBA{204, 121, 167, 255}, color.RGBA{230, 159, 0, 255}, color.RGBA{86, 180, 233, 255},
}

func main() {
	in := flag.String("in", "docs/bench/results.json", "hack/bench's results.json.")
	out := flag.String("out", "docs/bench", "Where converge.svg and follow.svg go.")
	flag.Parse()
	raw, err := os.ReadFile(*in)
	if err != nil {
		log.Fatal(err)
	}
	var r results
	if err := json.Unmarshal(raw, &r); err != nil {
		log.Fatalf("reading %s: %v", *in, err)
	}
	if err := converge(r, filepath.Join(*out, "converge.svg")); err != nil {
		log.Fatal(err)
	}
	if err := follows(r, filepath.Join(*out, "follow.svg")); err != nil {
		log.Fatal(err)
	}
}

// converge draws the time to converge against N beside the floor's writes alone and one
// NamespaceAlias over as many Services, and, since only ratios of one run count on a shared
// machine, each as a multiple of the floor, with the target's 1.2.
func converge(r results, file string) error {
	lines := []struct {
		name string
		of   func(i int) time.Duration
	}{
		{"operator: all N aliases Ready", func(i int) time.Duration { return r.Results[i].Converge }},
		{"floor: N entry creates + N status patches", func(i int) time.Duration { return r.Results[i].FloorCreates + r.Results[i].FloorStatus }},
		{"one NamespaceAlias over N Services", func(i int) time.Duration { return r.Results[i].NamespaceAlias }},
	}
	secs, ratio := newPlot("Converge time against N", "seconds"), newPlot("… as a multiple of the floor", "× the floor")
	for _, p := range []*plot.Plot{secs, ratio} {
		p.X.Label.Text, p.Y.Min = "N (Services, and one-host ServiceAliases)", 0
	}
	// The ratios fall as N grows: the top right is free for the legend.
	ratio.Legend.Left = false
	target := plotter.NewFunction(func(float64) float64 { return 1.2 })
	target.Color, target.Dashes = color.Gray{Y: 120}, []vg.Length{vg.Points(1), vg.Points(3)}
	ratio.Add(target)
	ratio.Legend.Add("target: 1.2× at 10k", target)
	for k, l := range lines {
		var xy, q plotter.XYs
		for i, res := range r.Results {
			if d, floor := l.of(i), lines[1].of(i); d > 0 && floor > 0 {
				xy = append(xy, plotter.XY{X: float64(res.N), Y: d.Seconds()})
				q = append(q, plotter.XY{X: float64(res.N), Y: d.Seconds() / floor.Seconds()})
			}
		}
		for p, data := range map[*plot.Plot]plotter.XYs{secs: xy, ratio: q} {
			if len(data) == 0 {
				continue
			}
			line, points, err := plotter.NewLinePoints(data)
			if err != nil {
				return err
			}
			line.Color, points.Color, line.Width = palette[k], palette[k], vg.Points(1.5)
			line.Dashes = [][]vg.Length{nil, {vg.Points(6), vg.Points(3)}, {vg.Points(2), vg.Points(2)}}[k]
			p.Add(line, points)
			p.Legend.Add(l.name, line, points)
		}
	}
	return save(file, 30*vg.Centimeter, 11*vg.Centimeter, secs, ratio)
}

// newPlot is a plot with a grid, its legend at the top left, and a small legend font.
func newPlot(title, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text, p.Y.Label.Text = title, y
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.TextStyle.Font.Size = vg.Points(9)
	p.Add(plotter.NewGrid())
	return p
}

// save draws plots side by side into one SVG file.
func save(file string, w, h vg.Length, plots ...*plot.Plot) error {
	c := vgsvg.New(w, h)
	canvases := plot.Align([][]*plot.Plot{plots}, draw.Tiles{Rows: 1, Cols: len(plots), PadX: vg.Centimeter,
		PadTop: vg.Millimeter, PadBottom: vg.Millimeter, PadLeft: vg.Millimeter, PadRight: vg.Centimeter}, draw.New(c))
	for i, p := range plots {
		p.Draw(canvases[0][i])
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := c.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// follows draws the follow-latency distributions as cumulative curves, one panel per
// scenario, one colour per N: solid from the Service create request, dashed the operator's
// share from the watch's sight of the Service to its sight of the entry.
func follows(r results, file string) error {
	panels := []struct {
		title string
		of    func(i int) []follow
	}{
		{"idle", func(i int) []follow { return r.Results[i].FollowIdle }},
		{"under a start-up backlog", func(i int) []follow { return r.Results[i].FollowStartup }},
		{"under a live bump", func(i int) []follow { return r.Results[i].FollowLive }},
	}
	var plots []*plot.Plot
	for _, panel := range panels {
		p := newPlot("Follow latency, "+panel.title, "share of samples at or below")
		p.X.Label.Text = "milliseconds (log scale)"
		p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, logTicks{}
		p.Y.Min, p.Y.Max = 0, 1
		// The curves rise from the bottom left to the top right: the top left is free.
		p.Legend.TextStyle.Font.Size = vg.Points(8)
		for i, res := range r.Results {
			fs := panel.of(i)
			for _, kind := range []struct {
				name   string
				of     func(follow) time.Duration
				dashes []vg.Length
			}{
				{"from the create request", func(f follow) time.Duration { return f.Total }, nil},
				{"the operator's share", func(f follow) time.Duration { return f.Operator }, []vg.Length{vg.Points(4), vg.Points(2)}},
			} {
				if len(fs) == 0 {
					continue
				}
				line, err := plotter.NewLine(cdf(fs, kind.of))
				if err != nil {
					return err
				}
				line.Color, line.Dashes, line.Width = palette[i%len(palette)], kind.dashes, vg.Points(1.5)
				p.Add(line)
				p.Legend.Add(fmt.Sprintf("N=%d, %s", res.N, kind.name), line)
			}
		}
		plots = append(plots, p)
	}
	return save(file, 40*vg.Centimeter, 12*vg.Centimeter, plots...)
}

// logTicks marks 1 to 9 times each power of ten and labels 1, 2 and 5 times it, or every mark
// when the range is narrow, so that it still reads.
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for p := math.Pow10(int(math.Floor(math.Log10(lo)))); p <= hi; p *= 10 {
		for m := 1; m < 10; m++ {
			if v := p * float64(m); v >= lo && v <= hi {
				t := plot.Tick{Value: v}
				if m == 1 || m == 2 || m == 5 || hi < 3*lo {
					t.Label = strconv.FormatFloat(v, 'g', -1, 64)
				}
				ticks = append(ticks, t)
			}
		}
	}
	return ticks
}

// cdf is the empirical distribution of the samples, in milliseconds: a step at each sample.
// The log scale has no room for zero, so a sample under 0.1 ms is drawn at 0.1 ms.
func cdf(fs []follow, of func(follow) time.Duration) plotter.XYs {
	ms := make([]float64, len(fs))
	for i, f := range fs {
		ms[i] = max(float64(of(f))/float64(time.Millisecond), 0.1)
	}
	slices.Sort(ms)
	xy := make(plotter.XYs, 0, 2*len(ms))
	for i, v := range ms {
		xy = append(xy, plotter.XY{X: v, Y: float64(i) / float64(len(ms))}, plotter.XY{X: v, Y: float64(i+1) / float64(len(ms))})
	}
	return xy
}
