// Package structure holds the tests of the project's layout: which trees may
// import which (imports_test.go). It has no code of its own.
package structure
