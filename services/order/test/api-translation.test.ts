import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createHandlerContext, type HandlerContext } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { CreateOrderRequestSchema as V1CreateOrderRequestSchema } from "#gen/shop/order/v1/order_service_pb.js";
import {
  CreateOrderRequestSchema as V2CreateOrderRequestSchema,
  OrderService as V2OrderService,
  OrderStatus as V2OrderStatus,
} from "#gen/shop/order/v2/order_service_pb.js";
import { sharedHandlers } from "../src/api/shared-handlers.js";
import { fromV1CreateOrder } from "../src/api/v1/order-service.js";
import { toV2Order, V2_STATUS } from "../src/api/v2/order-mapper.js";
import { fromV2CreateOrder } from "../src/api/v2/order-service.js";
import { requestFingerprint } from "../src/domain/order-commands.js";
import type { ListQuery, OrderUseCases } from "../src/order-use-cases.js";

/*
 * Each API version turns its own request message into the domain command, and names a bad field the way that
 * version spells it. These tests feed generated messages straight into each version's translation.
 */

const v1Request = (init: MessageInitShape<typeof V1CreateOrderRequestSchema> = {}) =>
  create(V1CreateOrderRequestSchema, { customerId: "c-1", lines: [{ productId: "p-1", quantity: 2 }], cardToken: "tok_visa", ...init });

const v2Request = (init: MessageInitShape<typeof V2CreateOrderRequestSchema> = {}) =>
  create(V2CreateOrderRequestSchema, {
    customerId: "c-1",
    items: [{ productId: "p-1", quantity: 2 }],
    payment: { cardToken: "tok_visa" },
    ...init,
  } as MessageInitShape<typeof V2CreateOrderRequestSchema>);

const fifty = (n: number) => Array.from({ length: n }, (_, i) => ({ productId: `p-${i}`, quantity: 1 }));
const invalid = (message: string) =>
  expect.objectContaining({
    constructor: ConnectError,
    code: Code.InvalidArgument,
    rawMessage: expect.stringMatching(`^${escapeRegExp(message)}`),
  });

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

describe("shop.order.v1 CreateOrderRequest → command", () => {
  it("when the request is valid, then the command holds its values, trimmed, with v1's lines field", () => {
    const command = fromV1CreateOrder(v1Request({ customerId: " c-1 ", lines: [{ productId: " p-1 ", quantity: 2 }] }));
    expect(command).toEqual({ customerId: "c-1", lines: [{ productId: "p-1", quantity: 2 }], cardToken: "tok_visa", linesField: "lines" });
  });

  it.each([
    ["no customer", { customerId: " " }, "customer_id: is required"],
    ["a customer id too long", { customerId: "x".repeat(65) }, "customer_id: must be at most 64 characters"],
    ["no lines", { lines: [] }, "lines: must have between 1 and 50 entries, got 0"],
    ["51 lines", { lines: fifty(51) }, "lines: must have between 1 and 50 entries, got 51"],
    [
      "a line without a product",
      {
        lines: [
          { productId: "p-1", quantity: 1 },
          { productId: "", quantity: 1 },
        ],
      },
      "lines[1].product_id: is required",
    ],
    [
      "a zero quantity",
      {
        lines: [
          { productId: "p-1", quantity: 1 },
          { productId: "p-2", quantity: 0 },
        ],
      },
      "lines[1].quantity: must be between 1 and 1000",
    ],
    ["a negative quantity", { lines: [{ productId: "p-1", quantity: -3 }] }, "lines[0].quantity: must be between 1 and 1000"],
    ["a quantity over 1000", { lines: [{ productId: "p-1", quantity: 1001 }] }, "lines[0].quantity: must be between 1 and 1000"],
    [
      "a product twice",
      {
        lines: [
          { productId: "p-1", quantity: 1 },
          { productId: "p-1", quantity: 2 },
        ],
      },
      "lines[1].product_id:",
    ],
    ["no card token", { cardToken: " " }, "card_token: is required"],
    ["a 129-character card token", { cardToken: "t".repeat(129) }, "card_token: must be at most 128 characters"],
    ["a 100,000-character card token", { cardToken: "t".repeat(100_000) }, "card_token: must be at most 128 characters"],
  ])("when the request has %s, then INVALID_ARGUMENT names the v1 field", (_, init, message) => {
    expect(() => fromV1CreateOrder(v1Request(init))).toThrow(invalid(message));
  });
});

describe("the card token bound, in both versions", () => {
  it("when the card token is exactly 128 characters, then it is accepted as sent", () => {
    const token = "t".repeat(128);

    expect(fromV1CreateOrder(v1Request({ cardToken: token })).cardToken).toBe(token);
    expect(fromV2CreateOrder(v2Request({ payment: { cardToken: token } })).cardToken).toBe(token);
  });
});

describe("shop.order.v2 CreateOrderRequest → command", () => {
  it("when the request is valid, then the command holds its values, with v2's items as the lines field", () => {
    expect(fromV2CreateOrder(v2Request())).toEqual({
      customerId: "c-1",
      lines: [{ productId: "p-1", quantity: 2 }],
      cardToken: "tok_visa",
      linesField: "items",
    });
  });

  it.each([
    ["no customer", { customerId: "" }, "customer_id: is required"],
    ["no items", { items: [] }, "items: must have between 1 and 50 entries, got 0"],
    ["51 items", { items: fifty(51) }, "items: must have between 1 and 50 entries, got 51"],
    ["an item without a product", { items: [{ productId: " ", quantity: 1 }] }, "items[0].product_id: is required"],
    [
      "a zero quantity",
      {
        items: [
          { productId: "p-1", quantity: 1 },
          { productId: "p-2", quantity: 0 },
        ],
      },
      "items[1].quantity: must be between 1 and 1000",
    ],
    [
      "a product twice",
      {
        items: [
          { productId: "p-1", quantity: 1 },
          { productId: "p-1", quantity: 1 },
        ],
      },
      'items[1].product_id: "p-1" is already ordered in items[0]',
    ],
    ["no payment", { payment: undefined }, "payment.card_token: is required"],
    ["a payment without a card token", { payment: { cardToken: "" } }, "payment.card_token: is required"],
    ["a 129-character card token", { payment: { cardToken: "t".repeat(129) } }, "payment.card_token: must be at most 128 characters"],
  ])("when the request has %s, then INVALID_ARGUMENT names the v2 field", (_, init, message) => {
    expect(() => fromV2CreateOrder(v2Request(init))).toThrow(invalid(message));
  });

  it("when v1 and v2 ask for the same order, then the commands share one fingerprint (one idempotency key serves both)", () => {
    const v1 = fromV1CreateOrder(v1Request());
    const v2 = fromV2CreateOrder(v2Request());
    expect(requestFingerprint(v2)).toBe(requestFingerprint(v1));
  });
});

describe("the handlers both versions share", () => {
  /** useCases records what the handlers pass on; anything else they call is a test failure. */
  function useCases() {
    const queries: ListQuery[] = [];
    const orders = {
      list: (query: ListQuery) => {
        queries.push(query);
        return { orders: [], nextPageToken: "" };
      },
      get: () => {
        throw new Error("get must not be reached");
      },
    } as unknown as OrderUseCases;
    return { queries, handlers: sharedHandlers(orders, { toMessage: toV2Order, status: V2_STATUS }) };
  }

  /** ctx is a plain Connect handler context of a v2 method, with no principal. */
  function ctx(name: "listOrders" | "getOrder" | "cancelOrder"): HandlerContext {
    const method = V2OrderService.method[name];
    return createHandlerContext({ service: V2OrderService, method, protocolName: "test", requestMethod: "POST", url: `/${name}` });
  }

  it("when a listing filters by status, then the use case gets the domain status; UNSPECIFIED means any", () => {
    const { queries, handlers } = useCases();
    handlers.listOrders({ pageSize: 5, pageToken: "", customerId: "c-1", status: V2OrderStatus.CONFIRMED }, ctx("listOrders"));
    handlers.listOrders({ pageSize: 5, pageToken: "", customerId: "c-1", status: V2OrderStatus.UNSPECIFIED }, ctx("listOrders"));
    expect(queries).toEqual([
      { pageSize: 5, pageToken: "", customerId: "c-1", status: "CONFIRMED" },
      { pageSize: 5, pageToken: "", customerId: "c-1", status: undefined },
    ]);
  });

  it("when the status filter is not an enum value, then INVALID_ARGUMENT names status", () => {
    const { queries, handlers } = useCases();
    expect(() =>
      handlers.listOrders({ pageSize: 5, pageToken: "", customerId: "", status: 42 as V2OrderStatus }, ctx("listOrders")),
    ).toThrow(invalid("status: unknown order status 42"));
    expect(queries).toHaveLength(0);
  });

  it("when an order id is blank, then INVALID_ARGUMENT names order_id before anything is read", () => {
    const { handlers } = useCases();
    expect(() => handlers.getOrder({ orderId: " " }, ctx("getOrder"))).toThrow(invalid("order_id: is required"));
    expect(() => handlers.cancelOrder({ orderId: "", reason: "" }, ctx("cancelOrder"))).toThrow(invalid("order_id: is required"));
  });
});
