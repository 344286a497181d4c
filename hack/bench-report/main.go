// Command bench-report reads the output of Portico's benchmarks (the lines
// test/benchfig prints), prints one table (figure, goal, measured, ratio to
// goal, min/median/max, samples) and writes the figures as JSON.
//
//	go run ./hack/bench-report -o _output/bench/results.json _output/bench/*.log
//
// With -markdown it prints the table as Markdown (for docs/performance.md).
// It exits 1 when a figure misses its goal and -strict is set.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/portico-dev/portico/test/benchfig"
)

func main() {
	out := flag.String("o", "", "write the figures to this JSON file (a list of {name, unit, goal, measured, met, ...})")
	markdown := flag.Bool("markdown", false, "print a Markdown table")
	strict := flag.Bool("strict", false, "exit 1 when a figure misses its goal")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: bench-report [-o results.json] [-markdown] [-strict] LOG...\n\n"+
			"Collects the figures the benchmarks printed (lines starting %q) and prints one table.\n\n", strings.TrimSpace(benchfig.Marker))
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	figs, err := collect(flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-report:", err)
		os.Exit(1)
	}
	if len(figs) == 0 {
		fmt.Fprintln(os.Stderr, "bench-report: no figures in", strings.Join(flag.Args(), " "))
		os.Exit(1)
	}
	if *markdown {
		printMarkdown(os.Stdout, figs)
	} else {
		printTable(os.Stdout, figs)
	}
	if *out != "" {
		data, err := json.MarshalIndent(figs, "", "  ")
		if err == nil {
			err = os.MkdirAll(filepath.Dir(*out), 0o755)
		}
		if err == nil {
			err = os.WriteFile(*out, append(data, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench-report:", err)
			os.Exit(1)
		}
	}
	if *strict && slices.ContainsFunc(figs, func(f benchfig.Figure) bool { return f.Met != nil && !*f.Met }) {
		os.Exit(1)
	}
}

// collect reads the figures of the files in order; a figure reported twice
// keeps its last value.
func collect(files []string) ([]benchfig.Figure, error) {
	var figs []benchfig.Figure
	at := map[string]int{}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			i := strings.Index(line, benchfig.Marker)
			if i < 0 {
				continue
			}
			var fig benchfig.Figure
			if err := json.Unmarshal([]byte(line[i+len(benchfig.Marker):]), &fig); err != nil {
				f.Close()
				return nil, fmt.Errorf("%s: %q: %w", name, line, err)
			}
			if j, ok := at[fig.Name]; ok {
				figs[j] = fig
				continue
			}
			at[fig.Name] = len(figs)
			figs = append(figs, fig)
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return figs, nil
}

func goal(f benchfig.Figure) string {
	if f.Goal == nil {
		return "-"
	}
	op := "≤"
	if f.Better == "higher" {
		op = "≥"
	}
	return fmt.Sprintf("%s %s %s", op, benchfig.Format(*f.Goal), f.Unit)
}

// ratio is measured/goal: at most 1 is met for lower-is-better figures, at
// least 1 for higher-is-better ones.
func ratio(f benchfig.Figure) string {
	if f.Goal == nil || *f.Goal == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", f.Measured / *f.Goal)
}

func met(f benchfig.Figure) string {
	switch {
	case f.Met == nil:
		return "-"
	case *f.Met:
		return "yes"
	default:
		return "NO"
	}
}

func spread(f benchfig.Figure) string {
	return fmt.Sprintf("%s / %s / %s", benchfig.Format(f.Min), benchfig.Format(f.Median), benchfig.Format(f.Max))
}

func printTable(w io.Writer, figs []benchfig.Figure) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FIGURE\tGOAL\tMEASURED\tRATIO\tMET\tMIN / MEDIAN / MAX\tSAMPLES")
	for _, f := range figs {
		fmt.Fprintf(tw, "%s\t%s\t%s %s %s\t%s\t%s\t%s\t%d\n", f.Name, goal(f), f.Stat, benchfig.Format(f.Measured), f.Unit,
			ratio(f), met(f), spread(f), f.Samples)
	}
	tw.Flush()
	missed := 0
	for _, f := range figs {
		if f.Met != nil && !*f.Met {
			missed++
		}
	}
	fmt.Fprintf(w, "\n%d figures, %d with a goal missed\n", len(figs), missed)
}

func printMarkdown(w io.Writer, figs []benchfig.Figure) {
	fmt.Fprintln(w, "| figure | goal | measured | ratio | met | min / median / max | samples | one sample includes |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, f := range figs {
		fmt.Fprintf(w, "| %s | %s | %s %s %s | %s | %s | %s | %d | %s |\n", f.Name, goal(f), f.Stat, benchfig.Format(f.Measured), f.Unit,
			ratio(f), met(f), spread(f), f.Samples, strings.ReplaceAll(f.Includes, "|", "\\|"))
	}
}
