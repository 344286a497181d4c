// Package ipvs is the lb-agent's IPVS dataplane: one IPVS virtual service per
// VIP:port:protocol with the Maglev hashing scheduler (mh, flags mh-port and
// mh-fallback) and IPIP (tunnel) destinations, and every VIP bound as a /32 on a
// dummy interface (portico0 by default).
//
// Set is declarative: it makes the kernel serve exactly the desired services and
// applies only the difference. It never flushes, on start-up or otherwise, so
// established connections survive an agent restart. Update is Set for some
// VIPs: it makes the kernel serve exactly the desired services on those VIPs
// and costs what they cost, however many VIPs the dataplane serves; the
// services of other VIPs stay as the last Set or Update left them.
//
// Ownership: the VIPs bound on the dummy interface are the ledger of what this
// dataplane owns. A VIP is bound before its first service is created and unbound
// only after its last service is deleted, so the ledger survives restarts and
// crashes. Set touches a kernel service only when its address is on the interface
// or desired; every other service (kube-proxy's, an operator's, fwmark services)
// is left alone. A service on a desired VIP:port:protocol is taken over.
//
// Reads: the dataplane keeps a record of what the kernel holds for it: the VIPs
// bound, and each owned service with its scheduler, flags and destinations. The
// first Set reads everything back (the bound addresses, the services, the
// destinations of every owned service: from /proc/net/ip_vs in one read, which
// shows no connection thresholds, else with a netlink dump per service) and
// repairs any difference. Later Sets and Updates
// diff the desired state against the record and issue only the kernel operations
// for the difference, without reading: a change of one backend's weight is one
// netlink operation. The full read-back happens again on the first Set (never an
// Update) at least Options.VerifyInterval after the last one: drift made behind
// the agent's back (a weight edited with ipvsadm, a service or an address
// deleted) is repaired within that interval, on the agent's next full
// synchronization after it. A service whose operation fails is read back and
// retried once in the same Set or Update (its record may be stale: it was
// changed behind the agent's back), and read back on every following Set, and
// Update of its VIP, until it is programmed.
//
// Writes: a netlink round trip costs more than the kernel's work for most
// IPVS writes, so the writes of a Set go in batches (up to 256 netlink
// messages in one sendmsg, only the last acknowledged: kernel.go), each
// service's writes in one batch; the reads go through moby/ipvs.
//
// Creating services: the kernel's Maglev scheduler rebuilds its whole lookup
// table (ip_vs_mh_reassign: 4093 slots with Debian's kernel) for every
// destination added, changed or removed, so a service created with N
// destinations, as ipvsadm-restore does it, builds the table N times. A new
// service with two destinations or more is therefore created without a
// scheduler, given its destinations, and switched to mh with one update, which
// builds the table once (see createOps).
package ipvs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"

	libipvs "github.com/moby/ipvs"

	"github.com/portico-dev/portico/lb-agent/dataplane"
	"github.com/portico-dev/portico/lb-agent/model"
)

// Defaults.
const (
	DefaultInterface      = "portico0"
	DefaultWorkers        = 4
	DefaultVerifyInterval = time.Minute
)

// Kernel is the part of IPVS the dataplane uses. The dataplane's kernel reads
// through moby/ipvs and writes through a netlink socket of its own, which
// sends many writes in one round trip.
type Kernel interface {
	GetServices() ([]*libipvs.Service, error)
	GetService(*libipvs.Service) (*libipvs.Service, error)
	GetDestinations(*libipvs.Service) ([]*libipvs.Destination, error)
	// Write issues ops in order and returns each one's error (nil: done); a
	// failed op does not stop the next ones.
	Write(ops []Op) []error
}

// Addresses binds VIPs locally. What it lists is what the dataplane owns.
type Addresses interface {
	List() ([]netip.Addr, error)
	Add(netip.Addr) error
	Del(netip.Addr) error
}

// Options of the IPVS dataplane.
type Options struct {
	// Interface is the dummy interface holding the VIPs; created when missing.
	Interface string
	// Netns is the path of the network namespace to program; empty for the
	// agent's own.
	Netns string
	// Workers is the number of kernel handles used in parallel.
	Workers int
	// VerifyInterval is how often everything is read back from the kernel and
	// drift repaired (see the package documentation); 0 reads everything back
	// on every Set.
	VerifyInterval time.Duration
	// WrapKernel, when set, wraps each kernel handle (benchmarks count and
	// time the operations with it).
	WrapKernel func(Kernel) Kernel
}

// Dataplane programs IPVS.
type Dataplane struct {
	kernels        []Kernel
	addrs          Addresses
	verifyInterval time.Duration
	now            func() time.Time
	close          func()

	mu sync.Mutex
	// rec is what the kernel holds for this dataplane; nil before the first
	// read-back.
	rec      *record
	lastRead time.Time
	// createSched is the scheduler services are created with before they
	// are switched to mh: CreateScheduler, or mh on a kernel refusing it.
	createSched string
	// table reads every service's destinations at once (readTable); nil, or
	// failing, the read-back reads them service by service.
	table func() (map[recKey][]*libipvs.Destination, error)
	// served counts the services and destinations of each desired VIP
	// programmed (by the last Set and the Updates since), total all of
	// them: the status of an Update.
	served map[uint32]counts
	total  counts
}

// counts counts services and destinations.
type counts struct{ services, destinations int }

// New opens Options.Workers IPVS kernel handles (each a netlink socket to
// read and one to write) and a netlink handle for the interface in the
// namespace of opts.
func New(opts Options) (*Dataplane, error) {
	if opts.Interface == "" {
		opts.Interface = DefaultInterface
	}
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	addrs, err := newLinkAddresses(opts.Interface, opts.Netns)
	if err != nil {
		return nil, err
	}
	handles := make([]*handle, 0, opts.Workers)
	closeAll := func() {
		for _, h := range handles {
			h.close()
		}
		addrs.close()
	}
	for range opts.Workers {
		h, err := newHandle(opts.Netns)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("opening IPVS netlink sockets (is the ip_vs module available?): %w", err)
		}
		handles = append(handles, h)
	}
	kernels := make([]Kernel, len(handles))
	for i, h := range handles {
		kernels[i] = h
		if opts.WrapKernel != nil {
			kernels[i] = opts.WrapKernel(h)
		}
	}
	d := NewWith(kernels, addrs, opts.VerifyInterval)
	d.close = closeAll
	d.table = func() (map[recKey][]*libipvs.Destination, error) { return readTable(opts.Netns) }
	return d, nil
}

// NewWith returns a dataplane on the given kernel handles (used in parallel) and
// addresses.
func NewWith(kernels []Kernel, addrs Addresses, verifyInterval time.Duration) *Dataplane {
	return &Dataplane{kernels: kernels, addrs: addrs, verifyInterval: verifyInterval, now: time.Now, close: func() {},
		createSched: CreateScheduler}
}

// Close releases the netlink sockets. The kernel state stays.
func (d *Dataplane) Close() { d.close() }

var _ dataplane.Dataplane = (*Dataplane)(nil)

// Set makes IPVS serve exactly services and binds their VIPs; see the package
// documentation for what it touches and what it reads.
func (d *Dataplane) Set(ctx context.Context, services []model.Service) (dataplane.Status, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	desired := newDesired(services)
	res := newResults()
	if d.rec == nil || d.now().Sub(d.lastRead) >= d.verifyInterval {
		start := d.now()
		rec, err := d.readAll(ctx, desired, res)
		if err != nil {
			return dataplane.Status{}, err
		}
		d.rec, d.lastRead = rec, start
	}
	bound := d.bind(desired, res)
	d.run(ctx, d.plan(desired), res)
	if len(d.rec.bound) > bound {
		d.unbind(desired, d.rec.boundVIPs(), res)
	}
	d.served = map[uint32]counts{}
	d.total = counts{}
	return d.status(desired, nil, res), errors.Join(res.errs...)
}

// Update makes IPVS serve, on each VIP of vips, exactly the services of
// services on it, and leaves the other VIPs as they are: it looks at and
// writes to the services of those VIPs only, and never reads the kernel back
// but for a service whose last operation failed (see the package
// documentation).
func (d *Dataplane) Update(ctx context.Context, vips []netip.Addr, services []model.Service) (dataplane.Status, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.rec == nil {
		return dataplane.Status{}, errors.New("an Update before the first Set: the kernel was not read back yet")
	}
	desired := newDesired(services)
	scope := slices.Clone(vips)
	inScope := make(map[netip.Addr]bool, len(vips))
	for _, vip := range vips {
		inScope[vip] = true
	}
	for _, vip := range desired.vips {
		if !inScope[vip] {
			scope = append(scope, vip)
		}
	}
	res := newResults()
	d.bind(desired, res)
	d.run(ctx, d.planVIPs(desired, scope), res)
	d.unbind(desired, scope, res)
	return d.status(desired, scope, res), errors.Join(res.errs...)
}

// desiredState is the desired services, sorted by VIP, with the indexes that
// only some Sets need built on first use: a Set that changes one service among
// thousands should cost little more than one comparison per service.
type desiredState struct {
	services []model.Service // sorted by VIP
	vips     []netip.Addr    // distinct, sorted
	// bound tells, for each of vips, whether it is bound (set by bind).
	bound  []bool
	keys   map[model.Key]bool
	vipSet map[netip.Addr]bool
}

func newDesired(services []model.Service) *desiredState {
	byVIP := func(a, b model.Service) int { return a.VIP.Compare(b.VIP) }
	if !slices.IsSortedFunc(services, byVIP) {
		services = slices.Clone(services)
		slices.SortFunc(services, byVIP)
	}
	s := &desiredState{services: services, vips: make([]netip.Addr, 0, len(services))}
	for i, svc := range services {
		if i == 0 || svc.VIP != services[i-1].VIP {
			s.vips = append(s.vips, svc.VIP)
		}
	}
	return s
}

// eachService calls fn with each desired service and whether its VIP is
// bound.
func (s *desiredState) eachService(fn func(svc *model.Service, first, bound bool)) {
	v := -1
	for i := range s.services {
		first := i == 0 || s.services[i].VIP != s.services[i-1].VIP
		if first {
			v++
		}
		fn(&s.services[i], first, s.bound[v])
	}
}

func (s *desiredState) hasKey(k model.Key) bool {
	if s.keys == nil {
		s.keys = make(map[model.Key]bool, len(s.services))
		for _, svc := range s.services {
			s.keys[svc.Key] = true
		}
	}
	return s.keys[k]
}

func (s *desiredState) hasVIP(vip netip.Addr) bool {
	if s.vipSet == nil {
		s.vipSet = make(map[netip.Addr]bool, len(s.vips))
		for _, v := range s.vips {
			s.vipSet[v] = true
		}
	}
	return s.vipSet[vip]
}

// readAll reads back the bound VIPs, the services and the destinations of those
// on VIPs bound or desired. A service whose destinations cannot be read is left
// stale (read back again by the next Set) and its VIP reported failed.
func (d *Dataplane) readAll(ctx context.Context, desired *desiredState, res *results) (*record, error) {
	bound, err := d.addrs.List()
	if err != nil {
		return nil, fmt.Errorf("listing the VIPs bound locally: %w", err)
	}
	have, err := d.kernels[0].GetServices()
	if err != nil {
		return nil, fmt.Errorf("listing IPVS services: %w", err)
	}
	rec := newRecord()
	for _, vip := range bound {
		rec.setBound(vip)
	}
	var keys []model.Key
	var svcs []*libipvs.Service
	for _, svc := range have {
		if key, ok := keyOf(svc); ok && (rec.isBound(key.VIP) || desired.hasVIP(key.VIP)) {
			keys, svcs = append(keys, key), append(svcs, svc)
		}
	}
	read := make([]*service, len(keys))
	var table map[recKey][]*libipvs.Destination
	if d.table != nil {
		table, _ = d.table() // without it, service by service
	}
	var each []int // services to read the destinations of one by one
	for i, key := range keys {
		if dests, ok := table[keyFor(key)]; ok {
			read[i] = fromKernel(svcs[i], dests)
		} else {
			each = append(each, i)
		}
	}
	errs := make([]error, len(keys))
	eachErrs := d.parallel(ctx, len(each), func(k Kernel, e int) error {
		i := each[e]
		dests, err := k.GetDestinations(svcs[i])
		read[i] = fromKernel(svcs[i], dests)
		return wrap(err, "reading the destinations of %s", keyString(keys[i]))
	})
	for e, i := range each {
		errs[i] = eachErrs[e]
	}
	for i, key := range keys {
		if errs[i] != nil {
			rec.setStale(key)
			if errors.Is(errs[i], errNotStarted) {
				errs[i] = ctx.Err()
			}
			res.record(key.VIP, errs[i])
			continue
		}
		rec.set(key, read[i])
	}
	return rec, nil
}

// bind binds the desired VIPs not bound yet, before their services are
// created, and returns how many desired VIPs are bound. A VIP that cannot be
// bound gets no service (it would not be owned, so it could not be cleaned up
// later).
func (d *Dataplane) bind(desired *desiredState, res *results) int {
	bound := 0
	desired.bound = make([]bool, len(desired.vips))
	for i, vip := range desired.vips {
		ok := d.rec.isBound(vip)
		if !ok {
			err := d.addrs.Add(vip)
			res.record(vip, wrap(err, "binding %s", vip))
			if ok = err == nil; ok {
				d.rec.setBound(vip)
			}
		}
		if desired.bound[i] = ok; ok {
			bound++
		}
	}
	return bound
}

// unbind releases the VIPs of candidates that are no longer desired, once
// none of their services is left.
func (d *Dataplane) unbind(desired *desiredState, candidates []netip.Addr, res *results) {
	var release []netip.Addr
	for _, vip := range candidates {
		if d.rec.isBound(vip) && !desired.hasVIP(vip) && !res.failed[vip] && !d.rec.inUse(vip) {
			release = append(release, vip)
		}
	}
	slices.SortFunc(release, netip.Addr.Compare)
	for _, vip := range release {
		err := d.addrs.Del(vip)
		res.record(vip, wrap(err, "unbinding %s", vip))
		if err == nil {
			d.rec.setUnbound(vip)
		}
	}
}

// job makes one owned service as desired: want nil deletes it. have is the
// record's service (nil: none); read says the record is stale and the kernel
// is read first.
type job struct {
	key  model.Key
	have *service
	read bool
	want *model.Service

	ops []Op     // the writes from the record
	got *service // what the kernel holds after them
	// failed is the first op that failed, and its error.
	failed    Op
	failedErr error
}

// plan lists the work on owned VIPs: services read back after a failure,
// services created, changed and deleted.
func (d *Dataplane) plan(desired *desiredState) []job {
	jobs, known, stale := d.planDesired(desired)
	// Owned services that are not desired: few Sets have any.
	if known < len(d.rec.services) || stale < len(d.rec.stale) {
		services, staleKeys := d.rec.keys()
		jobs = d.planUndesired(jobs, desired, append(services, staleKeys...))
	}
	slices.SortFunc(jobs, func(a, b job) int { return model.CompareKeys(a.key, b.key) })
	return jobs
}

// planVIPs is plan for the services of vips only.
func (d *Dataplane) planVIPs(desired *desiredState, vips []netip.Addr) []job {
	jobs, _, _ := d.planDesired(desired)
	for _, vip := range vips {
		jobs = d.planUndesired(jobs, desired, d.rec.vipKeys(vip))
	}
	slices.SortFunc(jobs, func(a, b job) int { return model.CompareKeys(a.key, b.key) })
	return jobs
}

// planDesired lists the work on the desired services of bound VIPs, and
// counts those the record knows and those that are stale.
func (d *Dataplane) planDesired(desired *desiredState) (jobs []job, known, stale int) {
	desired.eachService(func(want *model.Service, _, bound bool) {
		if !bound {
			return
		}
		have, ok := d.rec.service(want.Key)
		switch {
		case d.rec.isStale(want.Key):
			stale++
			jobs = append(jobs, job{key: want.Key, read: true, want: want})
		case !ok:
			jobs = append(jobs, job{key: want.Key, want: want})
		case !have.programmedAs(*want):
			jobs = append(jobs, job{key: want.Key, have: have, want: want})
		}
		if ok {
			known++
		}
	})
	return jobs, known, stale
}

// planUndesired adds to jobs the deletion of the owned services of keys (on
// bound VIPs) that are not desired, stale ones read back first.
func (d *Dataplane) planUndesired(jobs []job, desired *desiredState, keys []model.Key) []job {
	for _, key := range keys {
		if !d.rec.isBound(key.VIP) || desired.hasKey(key) {
			continue
		}
		if have, ok := d.rec.service(key); ok {
			jobs = append(jobs, job{key: key, have: have})
		} else {
			jobs = append(jobs, job{key: key, read: true})
		}
	}
	return jobs
}

// run executes jobs on the kernel handles in parallel and records what the
// kernel holds after them. The writes of the jobs known from the record go
// in batches (few netlink round trips); a job with a failed write, the record
// being stale perhaps (the service changed behind the agent's back) or the
// failure transient, is read back and applied once more alone, as is a job on
// a stale record.
func (d *Dataplane) run(ctx context.Context, jobs []job, res *results) {
	errs := make([]error, len(jobs))
	var batches [][]int
	var reread []int
	size := 0
	for i := range jobs {
		j := &jobs[i]
		if j.read {
			reread = append(reread, i)
			continue
		}
		j.ops, j.got = opsFor(j.key, j.have, j.want, d.createSched)
		if len(batches) == 0 || size+len(j.ops) > maxBatchOps {
			batches, size = append(batches, nil), 0
		}
		batches[len(batches)-1] = append(batches[len(batches)-1], i)
		size += len(j.ops)
	}
	started := d.parallel(ctx, len(batches), func(k Kernel, b int) error {
		var ops []Op
		for _, i := range batches[b] {
			ops = append(ops, jobs[i].ops...)
		}
		opErrs := k.Write(ops)
		for _, i := range batches[b] {
			for o, err := range opErrs[:len(jobs[i].ops)] {
				if err != nil && errs[i] == nil {
					jobs[i].failed, jobs[i].failedErr = jobs[i].ops[o], err
					errs[i] = fmt.Errorf("%s: %w", jobs[i].ops[o], err)
				}
			}
			opErrs = opErrs[len(jobs[i].ops):]
		}
		return nil
	})
	for b, err := range started {
		for _, i := range batches[b] {
			if err != nil {
				errs[i] = err
			} else if errs[i] != nil {
				reread = append(reread, i)
				d.noticeNoneRefused(jobs[i])
			}
		}
	}
	createSched := d.createSched
	rerr := d.parallel(ctx, len(reread), func(k Kernel, r int) error {
		j := &jobs[reread[r]]
		have, err := readService(k, j.key)
		if err != nil {
			return err
		}
		var ops []Op
		ops, j.got = opsFor(j.key, have, j.want, createSched)
		for o, err := range k.Write(ops) {
			if err != nil {
				return fmt.Errorf("%s: %w", ops[o], err)
			}
		}
		return nil
	})
	for r, i := range reread {
		errs[i] = rerr[r]
	}
	for i, j := range jobs {
		switch {
		case errors.Is(errs[i], errNotStarted):
			res.record(j.key.VIP, ctx.Err())
		case errs[i] != nil:
			res.record(j.key.VIP, fmt.Errorf("service %s: %w", keyString(j.key), errs[i]))
			d.rec.setStale(j.key)
		default:
			d.rec.set(j.key, j.got)
		}
	}
}

// noticeNoneRefused switches to creating services as mh when the kernel
// refused one without a scheduler.
func (d *Dataplane) noticeNoneRefused(j job) {
	if j.failed.Kind == NewService && j.failed.Service.SchedName == CreateScheduler && errors.Is(j.failedErr, syscall.ENOENT) {
		d.createSched = model.Scheduler
	}
}

var errNotStarted = errors.New("not started")

// parallel calls fn for 0..n-1 on the kernel handles in parallel and returns
// its errors; once ctx is done the calls not started fail with errNotStarted.
func (d *Dataplane) parallel(ctx context.Context, n int, fn func(k Kernel, i int) error) []error {
	errs := make([]error, n)
	ch := make(chan int)
	var wg sync.WaitGroup
	for _, k := range d.kernels[:min(len(d.kernels), max(n, 1))] {
		wg.Go(func() {
			for i := range ch {
				errs[i] = fn(k, i)
			}
		})
	}
	for i := range n {
		if ctx.Err() != nil {
			errs[i] = errNotStarted
			continue
		}
		ch <- i
	}
	close(ch)
	wg.Wait()
	return errs
}

// results collects errors per VIP.
type results struct {
	errs   []error
	failed map[netip.Addr]bool
}

func newResults() *results { return &results{failed: map[netip.Addr]bool{}} }

func (r *results) record(vip netip.Addr, err error) {
	if err == nil {
		return
	}
	r.errs = append(r.errs, err)
	r.failed[vip] = true
}

// status records the desired VIPs programmed, those bound and without a
// failure, with their services and destinations, in place of what it had for
// the VIPs of scope (nil: after a Set, which starts from nothing). It reports
// the totals, and the VIPs of desired that are programmed.
func (d *Dataplane) status(desired *desiredState, scope []netip.Addr, res *results) dataplane.Status {
	for _, vip := range scope {
		if old, ok := d.served[v4(vip)]; ok {
			d.total.services -= old.services
			d.total.destinations -= old.destinations
			delete(d.served, v4(vip))
		}
	}
	var st dataplane.Status
	var vip netip.Addr
	var cur counts
	ok := false
	flush := func() {
		if ok {
			d.served[v4(vip)] = cur
			d.total.services += cur.services
			d.total.destinations += cur.destinations
		}
	}
	desired.eachService(func(svc *model.Service, first, bound bool) {
		if first {
			flush()
			vip, cur = svc.VIP, counts{}
			if ok = bound && (len(res.failed) == 0 || !res.failed[vip]); ok {
				st.Ready = append(st.Ready, vip)
			}
		}
		if ok {
			cur.services++
			cur.destinations += len(svc.Destinations)
		}
	})
	flush()
	st.Services, st.Destinations = d.total.services, d.total.destinations
	return st
}

func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

func keyString(k model.Key) string {
	return fmt.Sprintf("%s/%s", netip.AddrPortFrom(k.VIP, k.Port), k.Protocol)
}

func compareAddrPorts(a, b netip.AddrPort) int {
	return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Port(), b.Port()))
}
