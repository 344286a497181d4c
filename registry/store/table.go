package store

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
)

// tableConvertor prints a kind's columns; it implements rest.TableConvertor.
type tableConvertor[T Object] struct {
	columns []metav1.TableColumnDefinition
	row     func(T) []any
}

func newTableConvertor[T Object](kind *Kind[T]) tableConvertor[T] {
	columns := []metav1.TableColumnDefinition{{Name: "Name", Type: "string", Format: "name", Description: "Name of the object."}}
	columns = append(columns, kind.Columns...)
	columns = append(columns, metav1.TableColumnDefinition{Name: "Age", Type: "date", Description: "Time since creation."})
	return tableConvertor[T]{columns: columns, row: kind.Row}
}

// ConvertToTable prints one object or a list.
func (c tableConvertor[T]) ConvertToTable(ctx context.Context, obj runtime.Object, opts runtime.Object) (*metav1.Table, error) {
	table := &metav1.Table{ColumnDefinitions: c.columns}
	if options, ok := opts.(*metav1.TableOptions); ok && options.NoHeaders {
		table.ColumnDefinitions = nil
	}
	var items []runtime.Object
	if meta.IsListType(obj) {
		var err error
		if items, err = meta.ExtractList(obj); err != nil {
			return nil, err
		}
		if l, err := meta.ListAccessor(obj); err == nil {
			table.ResourceVersion = l.GetResourceVersion()
			table.Continue = l.GetContinue()
			table.RemainingItemCount = l.GetRemainingItemCount()
		}
	} else {
		items = []runtime.Object{obj}
		if m, err := meta.Accessor(obj); err == nil {
			table.ResourceVersion = m.GetResourceVersion()
		}
	}
	for _, item := range items {
		o, ok := item.(T)
		if !ok {
			return nil, fmt.Errorf("unexpected object %T", item)
		}
		cells := append([]any{o.GetName()}, c.row(o)...)
		cells = append(cells, Age(o.GetCreationTimestamp()))
		table.Rows = append(table.Rows, metav1.TableRow{Cells: cells, Object: runtime.RawExtension{Object: item}})
	}
	return table, nil
}

// Age prints the time since a timestamp as kubectl does.
func Age(t metav1.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(time.Since(t.Time))
}

// ConditionStatus prints a condition's status, or Unknown when it is absent.
func ConditionStatus(conditions []metav1.Condition, conditionType string) string {
	if c := meta.FindStatusCondition(conditions, conditionType); c != nil {
		return string(c.Status)
	}
	return string(metav1.ConditionUnknown)
}
