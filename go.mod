module ucv

go 1.26

require (
	github.com/nyaruka/phonenumbers v1.8.1 // indirect
	golang.org/x/text v0.23.0 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
)
