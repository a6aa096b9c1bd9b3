module servegate.local/images/runcwrap

go 1.22
