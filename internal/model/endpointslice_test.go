package model

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Where an endpoint runs is what a per-node TA places its targets by: the
// slice keeps it endpoint by endpoint, beside the flat address list.
func TestEndpointSliceEndpoints(t *testing.T) {
	o, err := decodeYAML(t, "discovery.k8s.io/v1", "EndpointSlice", `
metadata: {name: web-abc, namespace: apps, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: metrics, port: 9090}]
endpoints:
- {addresses: [10.0.0.1], nodeName: n1, targetRef: {kind: Pod, namespace: apps, name: web-0}}
- {addresses: [10.0.0.2, 10.0.0.3], targetRef: {kind: Node, name: n2}}
- {addresses: [192.0.2.1]}
`)
	require.NoError(t, err)
	sl := o.(*EndpointSlice)
	assert.Equal(t, "web", sl.Service)
	assert.Equal(t, []ServicePort{{Name: "metrics", Port: 9090}}, sl.Ports)
	assert.Equal(t, []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "192.0.2.1"}, sl.Addresses)
	assert.Equal(t, []SliceEndpoint{
		{Addresses: []string{"10.0.0.1"}, NodeName: "n1", TargetKind: "Pod", TargetName: "web-0"},
		{Addresses: []string{"10.0.0.2", "10.0.0.3"}, TargetKind: "Node", TargetName: "n2"},
		{Addresses: []string{"192.0.2.1"}},
	}, sl.Endpoints)
}
