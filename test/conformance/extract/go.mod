module waymark.dev/test/conformance/extract

go 1.26
