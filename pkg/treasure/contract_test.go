package treasure

import (
	"context"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// target is the apply target as the shared contract states it; the client
// must keep satisfying it.
type target interface {
	ResolveConnection(ctx context.Context, name string) (id string, err error)
	CreateParent(ctx context.Context, p *segment.Parent) (*segment.Parent, error)
	UpdateParent(ctx context.Context, id string, p *segment.Parent) (*segment.Parent, error)
	DeleteParent(ctx context.Context, id string) error
	CreateFolder(ctx context.Context, parentID, parentFolderID string, f *segment.Folder) (*segment.Folder, error)
	UpdateFolder(ctx context.Context, id string, f *segment.Folder) (*segment.Folder, error)
	DeleteFolder(ctx context.Context, id string) error
	CreateSegment(ctx context.Context, parentID, folderID string, s *segment.Segment) (*segment.Segment, error)
	UpdateSegment(ctx context.Context, id, folderID string, s *segment.Segment) (*segment.Segment, error)
	DeleteSegment(ctx context.Context, id string) error
}

type observer interface {
	Observe(ctx context.Context, parentNames []string) (segment.State, error)
}

var (
	_ target   = (*Client)(nil)
	_ observer = (*Client)(nil)
)
