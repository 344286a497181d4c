package validation

// MaxBGPPeers is the most BGP peers of a LoadBalancerGroup: every node of the
// group keeps a session with each of them.
const MaxBGPPeers = 32
