// Package deploy holds Weft's deploy examples — a Dockerfile, a docker
// compose file, Kubernetes manifests and a Knative Service — and the test
// that checks them. It is a module of its own, so that the Kubernetes API
// types the test decodes the manifests with stay out of Weft's dependency
// tree.
package deploy
