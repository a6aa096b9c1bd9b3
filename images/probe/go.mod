module servegate.local/images/probe

go 1.22
