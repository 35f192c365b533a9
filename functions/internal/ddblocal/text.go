package ddblocal

import (
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// AttributeText renders v with every byte it stores (strings, numbers and
// binaries as they are, sets, lists and maps member by member, map keys
// included), so that a test scanning a table dump for a plaintext key finds
// it wherever the store put it.
func AttributeText(v types.AttributeValue) string {
	var b strings.Builder
	writeAttribute(&b, v)
	return b.String()
}

func writeAttribute(b *strings.Builder, v types.AttributeValue) {
	switch x := v.(type) {
	case *types.AttributeValueMemberS:
		b.WriteString(x.Value)
	case *types.AttributeValueMemberN:
		b.WriteString(x.Value)
	case *types.AttributeValueMemberB:
		b.Write(x.Value)
	case *types.AttributeValueMemberBOOL:
		if x.Value {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case *types.AttributeValueMemberSS:
		b.WriteString(strings.Join(x.Value, ","))
	case *types.AttributeValueMemberNS:
		b.WriteString(strings.Join(x.Value, ","))
	case *types.AttributeValueMemberBS:
		for _, e := range x.Value {
			b.Write(e)
			b.WriteByte(',')
		}
	case *types.AttributeValueMemberL:
		for _, e := range x.Value {
			writeAttribute(b, e)
			b.WriteByte(',')
		}
	case *types.AttributeValueMemberM:
		for k, e := range x.Value {
			b.WriteString(k + ":")
			writeAttribute(b, e)
			b.WriteByte(',')
		}
	}
}
