package contract_test

import (
	"context"
	"fmt"
	"github.com/aws/aws-sdk-go-v2/aws"
	"path"
	"slices"
	"sort"
	"strings"
	"testing"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// ddbCall is one item-level DynamoDB request as IAM sees it: the action
// and the condition keys DynamoDB sets for it
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/specifying-conditions.html).
// Attributes counts every top-level attribute the request names (key,
// item, update, condition and projection expressions), the strictest
// reading of dynamodb:Attributes.
type ddbCall struct {
	Action       string
	LeadingKey   string
	Attributes   []string
	ReturnValues string // "" when the request does not set it
	Index        string // a query's index, "" for the table
}

func (c ddbCall) String() string {
	return fmt.Sprintf("%s on %s naming %v (ReturnValues %q)", c.Action, c.LeadingKey, c.Attributes, c.ReturnValues)
}

func keyOf(m map[string]types.AttributeValue) string {
	if v, ok := m["PK"].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func newCall(action string, key, item map[string]types.AttributeValue, names map[string]string, rv types.ReturnValue) ddbCall {
	set := map[string]bool{}
	for k := range key {
		set[k] = true
	}
	for k := range item {
		set[k] = true
	}
	for _, n := range names {
		set[n] = true
	}
	attrs := slices.Sorted(mapKeys(set))
	lk := keyOf(key)
	if lk == "" {
		lk = keyOf(item)
	}
	return ddbCall{Action: action, LeadingKey: lk, Attributes: attrs, ReturnValues: string(rv)}
}

// callsOf turns one SDK request into the item-level requests IAM checks (a
// transaction's items each count as their own action).
func callsOf(ctx context.Context, params any) []ddbCall {
	switch p := params.(type) {
	case *dynamodb.TransactWriteItemsInput:
		var out []ddbCall
		for _, it := range p.TransactItems {
			switch {
			case it.Put != nil:
				out = append(out, newCall("dynamodb:PutItem", nil, it.Put.Item, it.Put.ExpressionAttributeNames, ""))
			case it.Update != nil:
				out = append(out, newCall("dynamodb:UpdateItem", it.Update.Key, nil, it.Update.ExpressionAttributeNames, ""))
			case it.Delete != nil:
				out = append(out, newCall("dynamodb:DeleteItem", it.Delete.Key, nil, it.Delete.ExpressionAttributeNames, ""))
			case it.ConditionCheck != nil:
				out = append(out, newCall("dynamodb:ConditionCheckItem", it.ConditionCheck.Key, nil, it.ConditionCheck.ExpressionAttributeNames, ""))
			}
		}
		return out
	case *dynamodb.GetItemInput:
		return []ddbCall{newCall("dynamodb:GetItem", p.Key, nil, p.ExpressionAttributeNames, "")}
	case *dynamodb.PutItemInput:
		return []ddbCall{newCall("dynamodb:PutItem", nil, p.Item, p.ExpressionAttributeNames, p.ReturnValues)}
	case *dynamodb.UpdateItemInput:
		return []ddbCall{newCall("dynamodb:UpdateItem", p.Key, nil, p.ExpressionAttributeNames, p.ReturnValues)}
	case *dynamodb.DeleteItemInput:
		return []ddbCall{newCall("dynamodb:DeleteItem", p.Key, nil, p.ExpressionAttributeNames, p.ReturnValues)}
	case *dynamodb.QueryInput:
		c := newCall("dynamodb:Query", nil, nil, p.ExpressionAttributeNames, "")
		for _, v := range p.ExpressionAttributeValues {
			// The partition key value of the key condition.
			if s, ok := v.(*types.AttributeValueMemberS); ok && strings.Contains(s.Value, "#") && c.LeadingKey == "" && !strings.HasSuffix(s.Value, "#") {
				c.LeadingKey = s.Value
			}
		}
		if pk, ok := p.ExpressionAttributeValues[":pk"].(*types.AttributeValueMemberS); ok {
			c.LeadingKey = pk.Value
		}
		c.Index = aws.ToString(p.IndexName)
		return []ddbCall{c}
	default:
		return []ddbCall{{Action: "dynamodb:" + awsmiddleware.GetOperationName(ctx)}}
	}
}

// allows evaluates the statement for a call: the action, the resource (the
// table, or the index a query reads) and every condition (the operators
// the template uses).
func (st statement) allows(c ddbCall) bool {
	resource := onTable
	if c.Index != "" {
		resource = "Sub ${KeysTable.Arn}/index/" + c.Index
	}
	if !slices.Contains(st.Actions, c.Action) || !slices.Contains(st.Resources, resource) {
		return false
	}
	for op, kv := range st.Condition {
		for key, want := range kv.(map[string]any) {
			var wants []string
			for _, w := range list(want) {
				wants = append(wants, fmt.Sprint(w))
			}
			var values []string
			switch key {
			case "dynamodb:LeadingKeys":
				values = []string{c.LeadingKey}
			case "dynamodb:Attributes":
				values = c.Attributes
			case "dynamodb:ReturnValues":
				if c.ReturnValues != "" {
					values = []string{c.ReturnValues}
				}
			default:
				return false // a key this test cannot evaluate: fail safe
			}
			if !conditionHolds(op, values, wants) {
				return false
			}
		}
	}
	return true
}

// conditionHolds implements the IAM operators the template uses
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html).
func conditionHolds(op string, values, wants []string) bool {
	match := func(v string, like bool) bool {
		return slices.ContainsFunc(wants, func(w string) bool {
			if like {
				ok, _ := path.Match(strings.ReplaceAll(w, "?", "\\?"), v)
				return ok
			}
			return v == w
		})
	}
	switch op {
	case "ForAllValues:StringLike", "ForAllValues:StringEquals":
		like := op == "ForAllValues:StringLike"
		for _, v := range values {
			if !match(v, like) {
				return false
			}
		}
		return true
	case "StringEqualsIfExists":
		return len(values) == 0 || (len(values) == 1 && match(values[0], false))
	case "StringEquals", "StringLike":
		return len(values) == 1 && match(values[0], op == "StringLike")
	}
	return false
}

// TestAuthorizerMayOnlyTouchLastUsed: the authorizer's role lets it read
// credentials and write the last-used attributes, nothing else, whatever
// the code does: requests a compromised authorizer could make are refused
// by the statements.
func TestAuthorizerMayOnlyTouchLastUsed(t *testing.T) {
	tpl := loadCFN(t)
	sts := roleStatements(t, tpl, roleOf(t, tpl, "AuthorizerFunction"))
	allowed := func(c ddbCall) bool { return slices.ContainsFunc(sts, func(st statement) bool { return st.allows(c) }) }
	sorted := func(a ...string) []string { sort.Strings(a); return a }
	for _, tc := range []struct {
		call ddbCall
		want bool
	}{
		{ddbCall{"dynamodb:GetItem", "CRED#abc", sorted("PK", "SK"), "", ""}, true},
		{ddbCall{"dynamodb:UpdateItem", "CRED#abc", sorted("PK", "SK", "lastUsedAt"), "", ""}, true},
		{ddbCall{"dynamodb:UpdateItem", "FIRM#acme", sorted("PK", "SK", "lastUsedAt", "lastUsedIp"), "", ""}, true},
		// Reads outside credentials: another firm's keys, audit records.
		{ddbCall{"dynamodb:GetItem", "FIRM#acme", sorted("PK", "SK"), "", ""}, false},
		// Writes of anything but the last-used attributes.
		{ddbCall{"dynamodb:UpdateItem", "CRED#abc", sorted("PK", "SK", "revokedAt"), "", ""}, false},
		{ddbCall{"dynamodb:UpdateItem", "CRED#abc", sorted("PK", "SK", "firmId", "lastUsedAt"), "", ""}, false},
		{ddbCall{"dynamodb:UpdateItem", "FIRM#acme", sorted("PK", "SK", "activeCount"), "", ""}, false},
		{ddbCall{"dynamodb:UpdateItem", "CRED#abc", sorted("PK", "SK", "lastUsedAt"), "ALL_OLD", ""}, false},
		{ddbCall{"dynamodb:UpdateItem", "OTHER#x", sorted("PK", "SK", "lastUsedAt"), "", ""}, false},
		// No item creation, no deletion, no scans.
		{ddbCall{"dynamodb:PutItem", "CRED#abc", sorted("PK", "SK", "lastUsedAt"), "", ""}, false},
		{ddbCall{"dynamodb:DeleteItem", "CRED#abc", sorted("PK", "SK"), "", ""}, false},
		{ddbCall{"dynamodb:Query", "FIRM#acme", sorted("PK", "SK"), "", ""}, false},
		{ddbCall{"dynamodb:Scan", "", nil, "", ""}, false},
	} {
		if got := allowed(tc.call); got != tc.want {
			t.Errorf("%s: allowed = %v, want %v", tc.call, got, tc.want)
		}
	}
}
