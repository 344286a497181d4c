package inuse

import (
	"fmt"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestWith(t *testing.T) {
	if got := With([]string{"a", TrafficFinalizer, "b"}, TrafficFinalizer, true); !slices.Equal(got, []string{"a", "b", TrafficFinalizer}) {
		t.Fatalf("With present = %v", got)
	}
	in := []string{"a", TrafficFinalizer}
	if got := With(in, TrafficFinalizer, false); !slices.Equal(got, []string{"a"}) || !slices.Equal(in, []string{"a", TrafficFinalizer}) {
		t.Fatalf("With absent = %v (input now %v)", got, in)
	}
}

// TestConditionNamesTenAndCounts: the message names the first ten users,
// sorted, then counts the rest; Set reports only the start of the wait.
func TestConditionNamesTenAndCounts(t *testing.T) {
	var users []string
	for i := 11; i >= 0; i-- {
		users = append(users, fmt.Sprintf("u%02d", i))
	}
	c := Condition(users, "do this", 4)
	want := "deletion waits for 12 users: u00, u01, u02, u03, u04, u05, u06, u07, u08, u09 and 2 more; do this"
	if c.Type != ConditionTerminating || c.Status != metav1.ConditionTrue || c.Reason != ReasonInUse || c.Message != want || c.ObservedGeneration != 4 {
		t.Fatalf("Condition = %+v, want message %q", c, want)
	}
	if c := Condition([]string{"x"}, "", 1); c.Message != "deletion waits for 1 user: x" {
		t.Fatalf("one user: %q", c.Message)
	}
	var conds []metav1.Condition
	if !Set(&conds, c) || Set(&conds, Condition([]string{"y"}, "", 1)) || conds[0].Message != "deletion waits for 1 user: y" {
		t.Fatalf("Set: %+v", conds)
	}
}
