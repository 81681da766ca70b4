-- name: AuditEventInsert :exec
INSERT INTO audit_events (account_id, id, actor_user_id, action, resource_type, resource_id, details, ip_address, user_agent, created_at)
VALUES (@account_id, @id, @actor_user_id, @action, @resource_type, @resource_id, @details, @ip_address, @user_agent, @created_at);
