// Command models-schema prints the OpenAPI v2 definitions of Portico's API
// types (as portico-hub serves them) for applyconfiguration-gen, which embeds
// them so that clients — and the fake clientsets of unit tests — can do
// server-side apply with field management.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/kube-openapi/pkg/util"

	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/validation/spec"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	generatedopenapi "github.com/portico-dev/portico/apis/generated/openapi"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/registry/apiserver"
)

func main() {
	ref := func(name string) spec.Ref { return spec.MustCreateRef("#/definitions/" + name) }
	defs := apiserver.OpenAPIDefinitions(generatedopenapi.GetOpenAPIDefinitions)(ref)
	schemas := make(map[string]spec.Schema, len(defs))
	for name, def := range defs {
		schemas[name] = def.Schema
		// Prefer an embedded v2 form where a type has one.
		if v2, ok := def.Schema.Extensions[common.ExtensionV2Schema].(spec.Schema); ok {
			schemas[name] = v2
		}
	}
	doc := &spec.Swagger{SwaggerProps: spec.SwaggerProps{Swagger: "2.0", Definitions: schemas,
		Info: &spec.Info{InfoProps: spec.InfoProps{Title: "Portico", Version: "v1alpha1"}}}}
	addGoNames(schemas)
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(string(out))
}

// addGoNames adds, for every kind, a definition under the name
// applyconfiguration-gen derives from the Go package path, referring to the
// kind's model name (dev.portico.<group>.<version>.<Kind>), which the type
// converters of clients look kinds up by.
func addGoNames(schemas map[string]spec.Schema) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clusterv1alpha1.AddToScheme, trafficv1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	for _, t := range scheme.AllKnownTypes() {
		named, ok := reflect.New(t).Interface().(interface{ OpenAPIModelName() string })
		if !ok {
			continue
		}
		model := named.OpenAPIModelName()
		if _, defined := schemas[model]; !defined {
			continue
		}
		schemas[util.ToRESTFriendlyName(t.PkgPath()+"."+t.Name())] = spec.Schema{
			SchemaProps: spec.SchemaProps{Ref: spec.MustCreateRef("#/definitions/" + model)}}
	}
}
