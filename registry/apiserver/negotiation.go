package apiserver

import "k8s.io/apimachinery/pkg/runtime"

// withoutProtobuf is a NegotiatedSerializer that offers every media type of
// the wrapped one but protobuf. Portico's types have no protobuf encoding:
// offered anyway, a client that prefers protobuf (kube-controller-manager's
// namespace controller and garbage collector, through the metadata client) gets
// "does not implement the protobuf marshalling interface" errors instead of
// falling back to JSON, and a namespace holding Portico objects never finishes
// deleting.
type withoutProtobuf struct {
	runtime.NegotiatedSerializer
}

// SupportedMediaTypes drops protobuf from the wrapped serializer's types.
func (s withoutProtobuf) SupportedMediaTypes() []runtime.SerializerInfo {
	var out []runtime.SerializerInfo
	for _, info := range s.NegotiatedSerializer.SupportedMediaTypes() {
		if info.MediaType != runtime.ContentTypeProtobuf {
			out = append(out, info)
		}
	}
	return out
}
