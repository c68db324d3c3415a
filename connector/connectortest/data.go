package connectortest

import (
	"fmt"
	"time"
)

// The fixture: 40 users with three orders each, made once per case.
const (
	numUsers      = 40
	ordersPerUser = 3
	// bulkUser gets bulkOrders more orders in the cases that need a
	// subject larger than a batch.
	bulkUser   = 5
	bulkOrders = 1200
	// silentUser has no name and an order without a note (NULLs).
	silentUser = 7
)

var (
	alice = User{ID: 1, Email: "alice@example.com", Name: "Alice O'Hara"}
	bob   = User{ID: 2, Email: "bob@example.com", Name: "Bob\"; DROP TABLE users; --"}
	zoe   = User{ID: 3, Email: "zoë@exämple.com", Name: "Zoë 😀 ﷽"}

	// cutoff lies between each user's second and third order.
	cutoff = time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
)

// orderTimes are the creation times of each user's orders: two before
// cutoff, one after.
var orderTimes = []time.Time{
	time.Date(2020, 3, 1, 10, 0, 0, 0, time.UTC),
	time.Date(2021, 6, 15, 12, 30, 0, 0, time.UTC),
	time.Date(2025, 2, 3, 8, 15, 0, 0, time.UTC),
}

func baseData() Dataset {
	var d Dataset
	for i := int64(1); i <= numUsers; i++ {
		u := User{ID: i, Email: fmt.Sprintf("user%d@example.com", i), Name: fmt.Sprintf("User %d", i)}
		switch i {
		case alice.ID:
			u = alice
		case bob.ID:
			u = bob
		case zoe.ID:
			u = zoe
		case silentUser:
			u.Name = ""
		}
		u.CreatedAt = time.Date(2024, 1, 1, int(i), 0, 0, 0, time.UTC)
		d.Users = append(d.Users, u)
		for k := range int64(ordersPerUser) {
			o := Order{ID: i*100 + k, UserID: i, Total: 1000*i + k, Note: fmt.Sprintf("order %d of user %d", k, i), CreatedAt: orderTimes[k]}
			if i == silentUser && k == 1 {
				o.Note = ""
			}
			d.Orders = append(d.Orders, o)
		}
	}
	return d
}

// withBulk adds bulkOrders orders of bulkUser, whose notes repeat (so that
// masks meet the same value many times).
func withBulk(d Dataset) Dataset {
	for j := range int64(bulkOrders) {
		d.Orders = append(d.Orders, Order{ID: 100000 + j, UserID: bulkUser, Total: j, Note: fmt.Sprintf("bulk note %d", j%7), CreatedAt: orderTimes[j%3]})
	}
	return d
}

func (d Dataset) user(id int64) User {
	for _, u := range d.Users {
		if u.ID == id {
			return u
		}
	}
	panic(fmt.Sprintf("connectortest: no user %d", id))
}

func (d Dataset) ordersOf(ids ...int64) map[string]Order {
	out := map[string]Order{}
	for _, o := range d.Orders {
		for _, id := range ids {
			if o.UserID == id {
				out[fmt.Sprint(o.ID)] = o
			}
		}
	}
	return out
}
