module github.com/faxbridge/faxbridge

go 1.26.8
