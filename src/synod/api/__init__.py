"""etcd's v3 API over gRPC and its JSON gateway, served from a node's replica."""
