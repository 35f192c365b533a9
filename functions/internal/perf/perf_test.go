package perf_test

import (
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/kudurrustone/apikeys/functions/internal/ddblocal"
)

func TestMain(m *testing.M) { os.Exit(ddblocal.Main(m)) }

// row is one line of the table: a figure, its baseline, and the target the
// ratio (ours/baseline) is held to. lowerIsBetter says which way the target
// points; target 0 means "no target, for information".
type row struct {
	name     string
	ours     float64
	base     float64
	unit     string
	baseName string
	target   float64
	higher   bool // higher is better (throughput)
	note     string
}

func (r row) ratio() float64 {
	if r.base == 0 {
		return 0
	}
	return r.ours / r.base
}

func (r row) verdict() string {
	switch {
	case r.target == 0:
		return ""
	case r.higher && r.ratio() >= r.target, !r.higher && r.ratio() <= r.target:
		return "met"
	default:
		return "NOT MET"
	}
}

func (r row) targetText() string {
	switch {
	case r.target == 0:
		return "-"
	case r.higher:
		return fmt.Sprintf(">= %.2fx", r.target)
	default:
		return fmt.Sprintf("<= %.2fx", r.target)
	}
}

func num(v float64, unit string) string {
	s := ""
	switch {
	case v == 0:
		s = "0"
	case v >= 1000:
		s = fmt.Sprintf("%.0f", v)
	case v >= 100:
		s = fmt.Sprintf("%.1f", v)
	default:
		s = fmt.Sprintf("%.2f", v)
	}
	if unit != "" {
		s += " " + unit
	}
	return s
}

// table formats the rows as one fixed-width text table.
func table(w io.Writer, title string, rows []row) {
	fmt.Fprintf(w, "\n%s\n", title)
	const f = "%-52s %15s %15s  %-26s %8s %10s %8s\n"
	fmt.Fprintf(w, f, "measure", "ours", "baseline", "baseline is", "ratio", "target", "")
	fmt.Fprintln(w, strings.Repeat("-", 142))
	for _, r := range rows {
		ratio := "-"
		if r.base != 0 {
			ratio = fmt.Sprintf("%.2fx", r.ratio())
		}
		fmt.Fprintf(w, f, r.name, num(r.ours, r.unit), num(r.base, r.unit), r.baseName, ratio, r.targetText(), r.verdict())
		if r.note != "" {
			fmt.Fprintf(w, "    %s\n", r.note)
		}
	}
}
