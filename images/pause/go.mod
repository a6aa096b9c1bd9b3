module servegate.local/images/pause

go 1.22
