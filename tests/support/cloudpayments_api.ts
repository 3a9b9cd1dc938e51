/**
 * CloudPayments' API as its documentation describes it, for the refunds an admin makes from the review queue:
 * `POST /payments/refund` with HTTP Basic (Public ID : API secret) and `{TransactionId, Amount}`, answered HTTP
 * 200 `{Success, Message, Model: {TransactionId}}`; a repeated `X-Request-ID` gets the first answer and refunds
 * nothing more; wrong credentials get 401.
 */
export interface CloudPaymentsApi {
  url: string;
  /** Every refund it made, in order. */
  refunds: { transactionId: number; amount: number; requestId: string | null }[];
  /** Payments it will not refund (as CloudPayments answers for, say, a payment already refunded). */
  refusing: Set<number>;
  close(): Promise<void>;
}

export function startCloudPaymentsApi(publicId: string, apiSecret: string): CloudPaymentsApi {
  const refunds: CloudPaymentsApi["refunds"] = [];
  const refusing = new Set<number>();
  const answers = new Map<string, unknown>();
  let nextTransaction = 2_000_000_000;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    if (request.headers.get("authorization") !== `Basic ${btoa(`${publicId}:${apiSecret}`)}`) {
      return new Response("Unauthorized", { status: 401 });
    }
    if (request.method !== "POST" || new URL(request.url).pathname !== "/payments/refund") {
      return Response.json({ Success: false, Message: "Not found" }, { status: 404 });
    }
    const requestId = request.headers.get("x-request-id");
    if (requestId && answers.has(requestId)) return Response.json(answers.get(requestId));
    const body = await request.json() as { TransactionId?: unknown; Amount?: unknown };
    let answer: unknown;
    if (typeof body.TransactionId !== "number" || typeof body.Amount !== "number" || body.Amount <= 0) {
      answer = { Success: false, Message: "Invalid request" };
    } else if (refusing.has(body.TransactionId)) {
      answer = { Success: false, Message: "Refund is not possible for this transaction" };
    } else {
      refunds.push({ transactionId: body.TransactionId, amount: body.Amount, requestId });
      answer = { Model: { TransactionId: nextTransaction++ }, Success: true, Message: null };
    }
    if (requestId) answers.set(requestId, answer);
    return Response.json(answer);
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, refunds, refusing, close: () => server.shutdown() };
}
