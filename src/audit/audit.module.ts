import { Module } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { ERROR_RESPONSE_HOOK } from '../common/http-exception.filter';
import { AccessReportController, AuditController } from './audit.controller';
import { AuditInterceptor } from './audit.interceptor';
import { AuditService } from './audit.service';
import { AuditRetention } from './audit-retention.service';
import { AuditRetentionScheduler } from './audit-retention.scheduler';
import { AuditStore, DatabaseAuditStore } from './audit-store.service';
import { AuditWriter } from './audit-writer.service';
import { RefusalRecorder } from './refusal-recorder.service';

/**
 * The audit trail (docs/audit.md): every @Audited route and every refusal is recorded as a
 * hash-chained event before its response is sent. Other modules inject AuditWriter to record
 * what they do outside a request (scheduled jobs).
 */
@Module({
  controllers: [AuditController, AccessReportController],
  providers: [
    { provide: AuditStore, useClass: DatabaseAuditStore },
    AuditWriter,
    AuditService,
    AuditRetention,
    AuditRetentionScheduler,
    RefusalRecorder,
    { provide: ERROR_RESPONSE_HOOK, useExisting: RefusalRecorder },
    { provide: APP_INTERCEPTOR, useClass: AuditInterceptor },
  ],
  exports: [AuditWriter, ERROR_RESPONSE_HOOK],
})
export class AuditModule {}
