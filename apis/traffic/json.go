package traffic

// JSONObject is a JSON object kept verbatim: an Istio spec or a complete Kubernetes
// object.
type JSONObject struct {
	Raw []byte
}

// JSONValue is any JSON value kept verbatim (a JSON-patch value).
type JSONValue struct {
	Raw []byte
}
