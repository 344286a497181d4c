package apiserver

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
)

func TestWithoutProtobuf(t *testing.T) {
	var types []string
	for _, info := range (withoutProtobuf{Codecs}).SupportedMediaTypes() {
		types = append(types, info.MediaType)
	}
	hasJSON := false
	for _, mt := range types {
		if mt == runtime.ContentTypeProtobuf {
			t.Fatalf("protobuf offered: %v", types)
		}
		hasJSON = hasJSON || mt == runtime.ContentTypeJSON
	}
	if !hasJSON {
		t.Fatalf("JSON not offered: %v", types)
	}
}
