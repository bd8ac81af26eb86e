import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { OpsService } from "#gen/shop/ops/v1/ops_service_pb.js";
import { implement, type ServiceRegistration } from "./grpc/registration.js";
import type { ServiceImpl } from "@connectrpc/connect";
import type { SqliteDatabase } from "./store/database.js";

/** OpsServiceOptions name the service reporting and its own database (which holds its outbox and inbox tables). */
export interface OpsServiceOptions {
  /** service is the name reported back, e.g. "order". */
  readonly service: string;
  readonly db: SqliteDatabase;
}

interface OutboxCounts {
  pending: number;
  failed: number;
  published: number;
  oldest_pending: string | null;
}

/**
 * createOpsServiceImpl implements shop.ops.v1.OpsService over one service's database: outbox counts by state, the
 * oldest unpublished row and the inbox size, read straight from the tables outbox.ts and inbox.ts define. Each call
 * is one aggregate query per table, cheap next to the relay's own polling.
 */
export function createOpsServiceImpl(options: OpsServiceOptions): ServiceImpl<typeof OpsService> {
  const { db, service } = options;
  // One pass over the outbox; IN_PROGRESS counts as pending (it has not reached Kafka as far as we know).
  const outbox = db.prepare<[], OutboxCounts>(
    `SELECT coalesce(sum(state != 'PUBLISHED'), 0) AS pending,
            coalesce(sum(state = 'FAILED'), 0)     AS failed,
            coalesce(sum(state = 'PUBLISHED'), 0)  AS published,
            min(CASE WHEN state != 'PUBLISHED' THEN created_at END) AS oldest_pending
       FROM outbox`,
  );
  const inbox = db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM inbox`);
  return {
    getEventStatus() {
      const counts = outbox.get() ?? { pending: 0, failed: 0, published: 0, oldest_pending: null };
      return {
        service,
        outboxPending: BigInt(counts.pending),
        outboxFailed: BigInt(counts.failed),
        outboxPublished: BigInt(counts.published),
        ...(counts.oldest_pending === null ? {} : { oldestPendingTime: timestampFromDate(new Date(counts.oldest_pending)) }),
        inboxProcessed: BigInt(inbox.get()?.n ?? 0),
      };
    },
  };
}

/** opsService is the OpsService registration a service's createServer adds next to its domain service. */
export function opsService(options: OpsServiceOptions): ServiceRegistration {
  return implement(OpsService, createOpsServiceImpl(options));
}
