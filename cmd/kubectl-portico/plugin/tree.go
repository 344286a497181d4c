package plugin

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/term"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

// Roles of tree nodes: they decide what the default (collapsed) view hides.
const (
	// RoleObject rows are always shown.
	RoleObject = iota
	// RoleDetail rows (an object's parts and helpers) are hidden while OK and
	// without visible children.
	RoleDetail
	// RoleCondition rows are one condition of their parent; hidden while OK
	// or when the parent's row already says the same.
	RoleCondition
	// RoleShownElsewhere rows are conditions that other rows of the tree
	// show: hidden.
	RoleShownElsewhere
)

// Node is one row of a describe tree and its children. The tree is built from
// the objects first (buildAccessPointTree), collapsed for the default view
// (Collapse) and rendered last (RenderTree).
type Node struct {
	// Kind groups siblings (e.g. MemberCluster); Name is the row's object name.
	Kind, Name string
	// Label is the NAME column; ShortLabel, when set, replaces it in the
	// collapsed view.
	Label, ShortLabel string
	// Role is RoleObject, RoleDetail, RoleCondition or RoleShownElsewhere.
	Role int
	// Groupable siblings of one Kind that are OK and alike are shown as one
	// row in the collapsed view.
	Groupable bool
	// Status is the READY column: True, False or Unknown ("" prints nothing).
	Status metav1.ConditionStatus
	// NegativePolarity marks conditions that are good when False (Degraded).
	NegativePolarity bool
	// Reason, Since and Message are the other columns.
	Reason  string
	Since   *metav1.Time
	Message string
	// Children are the rows below it.
	Children []*Node
}

// OK is true when the row's status is the good one.
func (n *Node) OK() bool {
	return (n.Status == metav1.ConditionTrue) != n.NegativePolarity
}

// conditionNode is a RoleCondition row of c.
func conditionNode(c metav1.Condition, negative bool) *Node {
	since := c.LastTransitionTime
	return &Node{
		Kind: "Condition", Name: c.Type, Label: "Condition " + c.Type, Role: RoleCondition,
		Status: c.Status, NegativePolarity: negative, Reason: c.Reason, Since: &since, Message: c.Message,
	}
}

// groupNamesShown is how many names a grouped row lists before "+N more".
const groupNamesShown = 4

// Collapse returns the default view of a tree: details and conditions that
// are OK are hidden, a condition saying what its parent's row says is
// hidden, and alike OK siblings that can be grouped become one row. n is not
// modified.
func Collapse(n *Node) *Node {
	out := *n
	if out.ShortLabel != "" {
		out.Label = out.ShortLabel
	}
	out.Children = nil
	for _, c := range n.Children {
		cc := Collapse(c)
		if hidden(cc, n) {
			continue
		}
		out.Children = append(out.Children, cc)
	}
	out.Children = group(out.Children)
	return &out
}

func hidden(c, parent *Node) bool {
	switch c.Role {
	case RoleDetail:
		return c.OK() && len(c.Children) == 0
	case RoleCondition:
		return (c.OK() && len(c.Children) == 0) || (c.Reason == parent.Reason && c.Message == parent.Message)
	case RoleShownElsewhere:
		return true
	}
	return false
}

// group replaces every set of at least two groupable, OK, childless
// siblings of one Kind and Reason by one row at the first one's place.
func group(children []*Node) []*Node {
	type key struct{ kind, reason string }
	members := map[key][]*Node{}
	for _, c := range children {
		if groupable(c) {
			k := key{c.Kind, c.Reason}
			members[k] = append(members[k], c)
		}
	}
	var out []*Node
	done := map[key]bool{}
	for _, c := range children {
		k := key{c.Kind, c.Reason}
		switch {
		case !groupable(c) || len(members[k]) < 2:
			out = append(out, c)
		case !done[k]:
			done[k] = true
			out = append(out, groupNode(members[k]))
		}
	}
	return out
}

func groupable(c *Node) bool { return c.Groupable && c.OK() && len(c.Children) == 0 }

// groupNode is the row standing for nodes: "3 MemberClusters", the most
// recent transition, and their names.
func groupNode(nodes []*Node) *Node {
	first := nodes[0]
	g := &Node{
		Kind: first.Kind, Label: fmt.Sprintf("%d %ss", len(nodes), first.Kind), Role: first.Role,
		Status: first.Status, NegativePolarity: first.NegativePolarity, Reason: first.Reason,
	}
	names := make([]string, 0, len(nodes))
	for _, n := range nodes {
		names = append(names, n.Name)
		if n.Since != nil && (g.Since == nil || n.Since.After(g.Since.Time)) {
			g.Since = n.Since
		}
	}
	g.Message = listNames(names, groupNamesShown)
	return g
}

// listNames joins names, the first max of them and "+N more".
func listNames(names []string, max int) string {
	if len(names) <= max {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s, +%d more", strings.Join(names[:max], ", "), len(names)-max)
}

// Color modes of --color.
const (
	ColorAuto   = "auto"
	ColorAlways = "always"
	ColorNever  = "never"
)

// useColor decides whether output to w is coloured: always, never, or (auto)
// when w is a terminal and neither $NO_COLOR nor TERM=dumb says otherwise.
func useColor(mode string, w io.Writer) (bool, error) {
	switch mode {
	case ColorAlways:
		return true, nil
	case ColorNever:
		return false, nil
	case ColorAuto, "":
		if os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
			return false, nil
		}
		f, ok := w.(*os.File)
		return ok && term.IsTerminal(int(f.Fd())), nil
	}
	return false, fmt.Errorf("--color must be %s, %s or %s, not %q", ColorAuto, ColorAlways, ColorNever, mode)
}

// ANSI colours of the READY column.
const (
	ansiGreen  = "\x1b[32m"
	ansiRed    = "\x1b[31m"
	ansiYellow = "\x1b[33m"
	ansiReset  = "\x1b[0m"
)

func statusColor(n *Node) string {
	switch {
	case n.Status == metav1.ConditionUnknown:
		return ansiYellow
	case n.Status == "":
		return ""
	case n.OK():
		return ansiGreen
	}
	return ansiRed
}

func colored(s, color string) string {
	if s == "" || color == "" {
		return s
	}
	return color + s + ansiReset
}

// RenderOptions say how RenderTree prints.
type RenderOptions struct {
	// Color the READY column (green good, red bad, yellow Unknown).
	Color bool
	// Now is the time SINCE is computed from.
	Now time.Time
}

// treeHeader are the columns of RenderTree.
var treeHeader = []string{"NAME", "READY", "REASON", "SINCE", "MESSAGE"}

type treeRow struct {
	cells [5]string
	node  *Node
}

// RenderTree prints the tree as a table: the NAME column draws the tree,
// then READY, REASON, SINCE and MESSAGE.
func RenderTree(w io.Writer, root *Node, o RenderOptions) error {
	rows := []treeRow{{cells: [5]string(treeHeader)}}
	rows = appendRows(rows, root, "", "", o.Now)
	widths := make([]int, len(treeHeader)-1)
	for _, r := range rows {
		for i := range widths {
			widths[i] = max(widths[i], utf8.RuneCountInString(r.cells[i]))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		var line strings.Builder
		for i, cell := range r.cells {
			if i == len(widths) {
				line.WriteString(cell)
				break
			}
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cell)+2)
			if i == 1 && o.Color && r.node != nil {
				cell = colored(cell, statusColor(r.node))
			}
			line.WriteString(cell + pad)
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// appendRows adds n's row, drawn after prefix (the branch of n) and its
// children's rows drawn after indent.
func appendRows(rows []treeRow, n *Node, prefix, indent string, now time.Time) []treeRow {
	rows = append(rows, treeRow{node: n, cells: [5]string{
		prefix + n.Label, string(n.Status), n.Reason, since(n.Since, now), oneLine(n.Message),
	}})
	for i, c := range n.Children {
		branch, next := "├─", "│ "
		if i == len(n.Children)-1 {
			branch, next = "└─", "  "
		}
		rows = appendRows(rows, c, indent+branch, indent+next, now)
	}
	return rows
}

func since(t *metav1.Time, now time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// oneLine keeps a multi-line message on its row.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
