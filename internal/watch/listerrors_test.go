package watch

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	toolscache "k8s.io/client-go/tools/cache"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
)

// The record is keyed as client-go's reflectors describe their type, so an
// error reported for one informer is found for that informer only.
func TestListErrorsByInformer(t *testing.T) {
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "services"}, "", nil)
	l := NewListErrors()
	r := toolscache.NewReflector(&toolscache.ListWatch{}, &corev1.Service{}, toolscache.NewStore(toolscache.MetaNamespaceKeyFunc), 0)
	l.handle(context.Background(), r, forbidden)

	assert.True(t, apierrors.IsForbidden(l.of(&corev1.Service{})))
	assert.NoError(t, l.of(&corev1.Pod{}))
	assert.NoError(t, l.of(&monitoringv1.ServiceMonitor{}))
	l.clear(&corev1.Service{})
	assert.NoError(t, l.of(&corev1.Service{}))
	var none *ListErrors
	assert.NoError(t, none.of(&corev1.Service{}), "a watcher without a record reports nothing")
}
