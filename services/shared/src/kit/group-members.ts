import type { SqliteDatabase } from "../store/database.js";

/** groupMembersSchema is the kit's own table: the member id this service last held in each consumer group. */
export const groupMembersSchema = [
  `CREATE TABLE IF NOT EXISTS kit_group_members (
     group_id  TEXT PRIMARY KEY,
     member_id TEXT NOT NULL,
     joined_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
   )`,
];

/**
 * GroupMembers remembers, in the service's own database, which member id it holds in its consumer group, so that a
 * run after a crash can ask the coordinator to drop the dead member instead of waiting out its session
 * (SubscribeOptions.staleMembers, kafka-group-membership.ts). One row per group: every join overwrites it, and a
 * graceful leave deletes it.
 */
export class GroupMembers {
  private readonly select;
  private readonly upsert;
  private readonly remove;

  constructor(db: SqliteDatabase) {
    this.select = db.prepare<[string], { member_id: string }>(`SELECT member_id FROM kit_group_members WHERE group_id = ?`);
    this.upsert = db.prepare<[string, string]>(
      `INSERT INTO kit_group_members (group_id, member_id) VALUES (?, ?)
       ON CONFLICT (group_id) DO UPDATE SET member_id = excluded.member_id, joined_at = excluded.joined_at`,
    );
    this.remove = db.prepare<[string]>(`DELETE FROM kit_group_members WHERE group_id = ?`);
  }

  /** stale lists the member ids a previous run may have left behind in the group. */
  stale(groupId: string): string[] {
    const row = this.select.get(groupId);
    return row === undefined ? [] : [row.member_id];
  }

  /** joined records the member id of a join. */
  joined(groupId: string, memberId: string): void {
    this.upsert.run(groupId, memberId);
  }

  /** left forgets the group's member after a graceful leave. */
  left(groupId: string): void {
    this.remove.run(groupId);
  }
}
