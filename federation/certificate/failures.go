package certificate

import "sync"

// Failure is why an access point's certificate could not be issued.
type Failure struct {
	Reason, Message string
}

// Failures records the last issuance failure of each access point
// ("namespace/name"), shared by the certificate controller (which writes it) and
// the access point controller (which owns the access point's status and reports
// it). Both run in the same process under the same leader election.
type Failures struct {
	mu       sync.Mutex
	m        map[string]Failure
	onChange []func(key string)
}

// NewFailures returns an empty record.
func NewFailures() *Failures { return &Failures{m: map[string]Failure{}} }

// Get returns the access point's failure, if any.
func (f *Failures) Get(key string) (Failure, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.m[key]
	return v, ok
}

// OnChange registers fn, called with the key whenever a failure is recorded,
// changes or is cleared.
func (f *Failures) OnChange(fn func(key string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.onChange = append(f.onChange, fn)
}

// set records (nil: clears) a failure and tells whether it changed.
func (f *Failures) set(key string, v *Failure) bool {
	f.mu.Lock()
	old, had := f.m[key]
	changed := (v == nil && had) || (v != nil && (!had || old != *v))
	if v == nil {
		delete(f.m, key)
	} else {
		f.m[key] = *v
	}
	fns := f.onChange
	f.mu.Unlock()
	if changed {
		for _, fn := range fns {
			fn(key)
		}
	}
	return changed
}
