package watch

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/ta-guard/ta-guard/internal/model"
)

// The caches keep an endpoint's nodeName and targetRef: without them every
// target would look nodeless to TA107.
func TestEndpointSliceKeepsWhereEndpointsRun(t *testing.T) {
	full := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web-abc", Namespace: "apps", Labels: map[string]string{discoveryv1.LabelServiceName: "web"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kube-controller-manager"}},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("metrics"), Port: ptr.To(int32(9090))}},
		Endpoints: []discoveryv1.Endpoint{{
			Addresses: []string{"10.0.0.1"}, NodeName: ptr.To("n1"),
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "apps", Name: "web-0"},
		}},
	}
	before := model.EndpointSliceFromDiscovery(full.DeepCopy())
	out, err := Strip(full)
	require.NoError(t, err)
	after := model.EndpointSliceFromDiscovery(out.(*discoveryv1.EndpointSlice))
	assert.Equal(t, before, after)
	assert.Equal(t, []model.SliceEndpoint{{Addresses: []string{"10.0.0.1"}, NodeName: "n1", TargetKind: "Pod", TargetName: "web-0"}}, after.Endpoints)
}
