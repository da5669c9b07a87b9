import { Column, Entity, JoinColumn, ManyToOne, OneToMany, PrimaryColumn } from 'typeorm';

@Entity({ name: 'key_grants' })
export class KeyGrant {
  @PrimaryColumn({ type: 'uuid' })
  id: string;

  @Column({ name: 'from_user_id', type: 'bigint' })
  fromUserId: string;

  @Column({ name: 'to_user_id', type: 'bigint' })
  toUserId: string;

  @Column({ type: 'varchar', length: 500 })
  reason: string;

  /** The `sub` of the caller that created the grant; it may not approve it. */
  @Column({ name: 'created_by', type: 'varchar', length: 256 })
  createdBy: string;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column({ name: 'not_before', type: 'timestamptz', nullable: true })
  notBefore: Date | null;

  @Column({ name: 'expires_at', type: 'timestamptz', nullable: true })
  expiresAt: Date | null;

  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt: Date | null;

  @Column({ name: 'revoked_by', type: 'varchar', length: 256, nullable: true })
  revokedBy: string | null;

  @OneToMany(() => KeyGrantApproval, (approval) => approval.grant)
  approvals: KeyGrantApproval[];
}

@Entity({ name: 'key_grant_approvals' })
export class KeyGrantApproval {
  @PrimaryColumn({ name: 'grant_id', type: 'uuid' })
  grantId: string;

  @PrimaryColumn({ type: 'varchar', length: 256 })
  approver: string;

  @Column({ name: 'approved_at', type: 'timestamptz' })
  approvedAt: Date;

  @ManyToOne(() => KeyGrant, (grant) => grant.approvals)
  @JoinColumn({ name: 'grant_id' })
  grant: KeyGrant;
}
